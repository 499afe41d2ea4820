/**
 * A resource's asking rules (docs/asking.md): a `ticket:` reference the request must carry
 * (a pattern, and a link template), and `escalate_after:` with `escalate_to:`, the group a
 * request still waiting after that long is sent to as well.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { asSlackUserId, type SlackUserId } from '../db/ids.ts';
import { readSchedule } from './on-call-schedule.ts';
import { duration, explain, strict, USER_ID } from './policy-schema.ts';

export interface TicketPolicy {
  /** The pattern as written, shown to people who got it wrong. */
  pattern: string;
  /** An example the pattern accepts, shown with it; null: none given. */
  example: string | null;
  /** The link of a ticket, `{ticket}` in it replaced; null: the ticket is shown as text. */
  url: string | null;
}

export interface EscalationPolicy {
  afterMs: number;
  /** The group's name as written, shown on the card (`@name`). */
  to: string;
  /** The group's members (sorted). */
  members: SlackUserId[];
}

/** Who is asked to approve: whoever the schedule says is on call at request time (docs/asking.md §3). */
export interface OnCallPolicy {
  /** The schedule file, absolute. */
  schedule: string;
  /** As written in the policy, for messages and the record. */
  written: string;
  /** Always asked besides whoever is on call (expanded from groups, sorted). */
  always: SlackUserId[];
}

const PLACEHOLDER = '{ticket}';

const pattern = z
  .string({ error: explain('a pattern', 'write a regular expression in quotes, like "^(INC|CHG)-\\\\d+$"') })
  .min(1, { error: 'is empty: write a regular expression in quotes, like "^(INC|CHG)-\\\\d+$"' })
  .superRefine((text, ctx) => {
    try {
      new RegExp(text, 'u');
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        input: text,
        message: `${JSON.stringify(text)} is not a regular expression (${(error as Error).message}): write one like "^(INC|CHG)-\\\\d+$"`,
      });
    }
  });

export const TicketSchema = strict(
  {
    pattern,
    example: z
      .string({ error: explain('an example ticket', 'write one the pattern accepts, like INC-123') })
      .optional(),
    url: z
      .string({ error: explain('a link template', `write a URL with ${PLACEHOLDER} in it`) })
      .refine((text) => /^https?:\/\//.test(text) && text.includes(PLACEHOLDER), {
        error: (issue) =>
          `${JSON.stringify(issue.input)} is not a link template: write an http(s) URL with ${PLACEHOLDER} where the ticket goes, like https://tracker.example/browse/${PLACEHOLDER}`,
      })
      .optional(),
  },
  'a ticket setting',
  'use a mapping like { pattern: "^(INC|CHG)-\\\\d+$", example: INC-123, url: "https://tracker.example/browse/{ticket}" }',
);

export type TicketFields = z.output<typeof TicketSchema>;

export const OnCallSchema = strict(
  {
    schedule: z
      .string({
        error: explain('a file path', 'name the schedule file, like oncall/db.yml (relative to the policy file)'),
      })
      .min(1),
    always: z
      .array(
        z
          .string({ error: explain('a Slack user id or group name', 'use ids like U01AB2CD3 or group names') })
          .regex(/^([UW][A-Z0-9]{2,}|[a-z][a-z0-9_-]*)$/),
        { error: explain('a list of people', 'list Slack user ids or group names, like [U01AB2CD3]') },
      )
      .default([]),
  },
  'an on_call setting',
  'use a mapping like { schedule: oncall/db.yml, always: [U01AB2CD3] }',
);

export const EscalateAfterSchema = duration;
export const EscalateToSchema = z.string({
  error: explain('a group name', 'name a group defined under groups:, like db-fallback'),
});

interface Finding {
  path: PropertyKey[];
  message: string;
}

/** The resource's `ticket`, `escalate_after` and `escalate_to`, read together; findings say what is wrong. */
export function readAsking(
  item: Record<string, unknown>,
  groups: ReadonlyMap<string, readonly SlackUserId[]> | undefined,
  at: (...rest: PropertyKey[]) => PropertyKey[],
  dir = process.cwd(),
  owners: readonly SlackUserId[] = [],
): { findings: Finding[]; ticket?: TicketPolicy; escalation?: EscalationPolicy; onCall?: OnCallPolicy } {
  const findings: Finding[] = [];
  // As policy.ts's findingsFrom: one finding per unknown key, each at its own path.
  const issues = (error: z.ZodError, key: string) =>
    error.issues.flatMap((issue) => {
      if (issue.code !== 'unrecognized_keys') return [{ path: at(key, ...issue.path), message: issue.message }];
      const messages = issue.message.split('\n');
      return issue.keys.map((k, i) => ({ path: at(key, ...issue.path, k), message: messages[i] ?? issue.message }));
    });
  let ticket: TicketPolicy | undefined;
  if (item['ticket'] !== undefined && item['ticket'] !== null) {
    const read = TicketSchema.safeParse(item['ticket']);
    if (!read.success) findings.push(...issues(read.error, 'ticket'));
    else if (read.data.example !== undefined && !new RegExp(read.data.pattern, 'u').test(read.data.example))
      findings.push({
        path: at('ticket', 'example'),
        message: `${JSON.stringify(read.data.example)} does not match the pattern ${read.data.pattern}: give an example it accepts`,
      });
    else ticket = { pattern: read.data.pattern, example: read.data.example ?? null, url: read.data.url ?? null };
  }
  const onCall = readOnCall(item['on_call'], groups, at, dir, owners, findings);
  const more = <T extends object>(result: T) => (onCall ? { ...result, onCall } : result);
  const after = item['escalate_after'];
  const to = item['escalate_to'];
  if ((after === undefined || after === null) && (to === undefined || to === null)) return more({ findings, ticket });
  if (after === undefined || after === null || to === undefined || to === null) {
    const missing = after === undefined || after === null ? 'escalate_after' : 'escalate_to';
    findings.push({
      path: at(missing),
      message: 'is required with the other: give both escalate_after (like 30m) and escalate_to (a group name)',
    });
    return more({ findings, ticket });
  }
  const afterRead = EscalateAfterSchema.safeParse(after);
  const toRead = EscalateToSchema.safeParse(to);
  if (!afterRead.success) findings.push(...issues(afterRead.error, 'escalate_after'));
  if (!toRead.success) findings.push(...issues(toRead.error, 'escalate_to'));
  if (!afterRead.success || !toRead.success || groups === undefined) return more({ findings, ticket });
  const members = groups.get(toRead.data);
  if (members === undefined) {
    const defined = [...groups.keys()].join(', ') || 'none';
    findings.push({
      path: at('escalate_to'),
      message: `${JSON.stringify(toRead.data)} is not a defined group (defined groups: ${defined}): add it under groups`,
    });
  } else if (members.length === 0) {
    findings.push({ path: at('escalate_to'), message: 'expands to no one: add members to the group' });
  } else {
    return more({ findings, ticket, escalation: { afterMs: afterRead.data, to: toRead.data, members: [...members] } });
  }
  return more({ findings, ticket });
}

/** The ticket's link under the policy's template; null without one. The ticket is URL-encoded into it. */
export function ticketUrl(policy: TicketPolicy | undefined, ticket: string): string | null {
  if (!policy?.url) return null;
  return policy.url.split(PLACEHOLDER).join(encodeURIComponent(ticket));
}

/** The resource's `on_call:`: its schedule read and checked now (a bad file is a finding with its line), its `always` expanded. */
function readOnCall(
  raw: unknown,
  groups: ReadonlyMap<string, readonly SlackUserId[]> | undefined,
  at: (...rest: PropertyKey[]) => PropertyKey[],
  dir: string,
  owners: readonly SlackUserId[],
  findings: Finding[],
): OnCallPolicy | undefined {
  if (raw === undefined || raw === null) return undefined;
  const read = OnCallSchema.safeParse(raw);
  if (!read.success) {
    for (const issue of read.error.issues)
      findings.push({ path: at('on_call', ...issue.path), message: issue.message });
    return undefined;
  }
  const schedule = resolve(dir, read.data.schedule);
  try {
    readSchedule(schedule, read.data.schedule);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `the schedule file does not exist (looked for ${schedule}): write one (docs/asking.md) or remove on_call`
        : `the schedule file is not valid: ${(error as Error).message}`;
    findings.push({ path: at('on_call', 'schedule'), message });
    return undefined;
  }
  if (groups === undefined) return undefined;
  const always: SlackUserId[] = [];
  read.data.always.forEach((entry, k) => {
    const ids = USER_ID.test(entry) ? [asSlackUserId(entry)] : groups.get(entry);
    if (ids === undefined)
      findings.push({
        path: at('on_call', 'always', k),
        message: `${JSON.stringify(entry)} is not a defined group (defined groups: ${[...groups.keys()].join(', ') || 'none'}): add it under groups or use a Slack user id`,
      });
    else
      for (const id of ids) {
        if (owners.includes(id)) always.push(id);
        else
          findings.push({
            path: at('on_call', 'always', k),
            message: `${id} is not an owner of this resource: only owners are asked to approve; add them to owners or remove them here`,
          });
      }
  });
  return { schedule, written: read.data.schedule, always: [...new Set(always)].sort() };
}
