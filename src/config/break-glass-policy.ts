/**
 * A resource's `break_glass:` block: who may take access at once, without approval, in an
 * emergency, for how long at most, and how soon (and by how many owners) it must be
 * ratified before Gatehouse takes it away again (src/access/break-glass.ts).
 */
import { z } from 'zod';
import type { SlackUserId } from '../db/ids.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { duration, explain, strict, USER_ID } from './policy-schema.ts';

export interface BreakGlassPolicy {
  /** Who may break the glass (expanded from groups, sorted). */
  who: SlackUserId[];
  maxDurationMs: number;
  /** Owners have this long to ratify it; otherwise it is revoked. */
  ratifyWithinMs: number;
  /** Distinct owners (never the person who broke the glass) needed to ratify. */
  quorum: number;
  /** Alerted besides the owners (expanded): the block's `security`, else the alerts section's. */
  security: SlackUserId[];
}

const GROUP_NAME = /^[a-z][a-z0-9_-]*$/;
const DEFAULT_RATIFY_WITHIN_MS = parseDuration('15m');

function people(noun: string, minimum: number) {
  const entry = z
    .string({ error: explain('a Slack user id or group name', 'use ids like U01AB2CD3 or group names like oncall') })
    .refine((value) => USER_ID.test(value) || GROUP_NAME.test(value));
  return z
    .array(entry, {
      error: explain(`a list of ${noun}`, 'list Slack user ids or group names, like [oncall, U01AB2CD3]'),
    })
    .min(minimum, { error: `needs at least one person: list Slack user ids or group names, like [oncall, U01AB2CD3]` });
}

export const BreakGlassSchema = strict(
  {
    who: people('people who may break the glass', 1),
    max_duration: duration,
    ratify_within: duration.default(DEFAULT_RATIFY_WITHIN_MS),
    quorum: z
      .number({ error: explain('a number of owners', 'use a whole number, 1 or more') })
      .int()
      .min(1)
      .default(1),
    security: people('people to alert', 0).optional(),
  },
  'a break_glass setting',
  'use a mapping like { who: [oncall], max_duration: 1h, ratify_within: 15m, quorum: 1 }',
);

export type BreakGlassFields = z.output<typeof BreakGlassSchema>;

interface Finding {
  path: PropertyKey[];
  message: string;
}

/** Rules that span the block and its resource: groups defined, within max_duration, a quorum the owners can reach. */
export function checkBreakGlass(
  block: BreakGlassFields,
  resource: { max_duration: number; owners: SlackUserId[] },
  groups: ReadonlyMap<string, readonly SlackUserId[]>,
  at: (...rest: PropertyKey[]) => PropertyKey[],
): Finding[] {
  const findings: Finding[] = [];
  const defined = [...groups.keys()].join(', ') || 'none';
  for (const field of ['who', 'security'] as const)
    (block[field] ?? []).forEach((entry, k) => {
      if (!USER_ID.test(entry) && !groups.has(entry))
        findings.push({
          path: at('break_glass', field, k),
          message: `${JSON.stringify(entry)} is not a defined group (defined groups: ${defined}): add it under groups or use a Slack user id`,
        });
    });
  if (block.max_duration > resource.max_duration)
    findings.push({
      path: at('break_glass', 'max_duration'),
      message: `${formatDuration(block.max_duration)} is longer than the resource's max_duration ${formatDuration(resource.max_duration)}: break-glass access may not outlast what an approval could give`,
    });
  if (resource.owners.length > 0 && block.quorum > resource.owners.length)
    findings.push({
      path: at('break_glass', 'quorum'),
      message: `${block.quorum} owners must ratify but there ${resource.owners.length === 1 ? 'is only 1 distinct owner' : `are only ${resource.owners.length} distinct owners`}: lower quorum or add owners`,
    });
  return findings;
}

export function toBreakGlass(
  block: BreakGlassFields | undefined,
  expand: (entries: readonly string[]) => SlackUserId[],
  securityDefault: readonly SlackUserId[],
): BreakGlassPolicy | null {
  if (!block) return null;
  return {
    who: expand(block.who),
    maxDurationMs: block.max_duration,
    ratifyWithinMs: block.ratify_within,
    quorum: block.quorum,
    security: block.security ? expand(block.security) : [...securityDefault],
  };
}
