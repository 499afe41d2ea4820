/**
 * The zod schema layer of the policy file: what each field may hold, and messages that say
 * what was found, what was expected and what is allowed. policy.ts runs these schemas and
 * adds the rules that span fields, resources and groups. A resource's `provisioner:` block
 * is read by the schema of its kind, which provisioners/<kind>.ts owns (built from the
 * helpers exported here) and the registry hands to the policy reader.
 */
import { z } from 'zod';
import { DURATION_HINT, parseDuration } from './duration.ts';

// Slack ids are upper-case; group names are lower-case so the two can never be confused.
export const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;
const GROUP_NAME = /^[a-z][a-z0-9_-]*$/;
const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const DEFAULT_REQUEST_TTL_MS = parseDuration('24h');
const DEFAULT_CHECKPOINT_EVERY_MS = parseDuration('10m');

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a value the operator wrote reads back to them in a message. */
export function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (isRecord(value)) return 'a mapping';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A zod error callback: say what was found, what was expected, and what is allowed. */
export function explain(noun: string, allowed: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined ? `is required: ${allowed}` : `${describe(issue.input)} is not ${noun}: ${allowed}`;
}

/** Closest allowed word within two edits, to turn `max_duraton` into a suggestion. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    let previous = Array.from({ length: candidate.length + 1 }, (_, j) => j);
    for (let i = 1; i <= word.length; i++) {
      const current = [i];
      for (let j = 1; j <= candidate.length; j++) {
        const substitution = (previous[j - 1] ?? 0) + (word[i - 1] === candidate[j - 1] ? 0 : 1);
        current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
      }
      previous = current;
    }
    const distance = previous[candidate.length] ?? Infinity;
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/**
 * A strict object: unknown keys are errors, so a typo is never silently ignored. Zod
 * reports all unknown keys of an object as one issue, so the message has one line per
 * key, in order; findingsFrom in policy.ts splits them into one problem per key.
 */
export function strict<T extends z.core.$ZodLooseShape>(shape: T, noun: string, allowed: string) {
  const keys = Object.keys(shape);
  const otherwise = explain(noun, allowed);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return otherwise(issue);
      return issue.keys
        .map((key) => {
          const guess = closest(key, keys);
          const hint = guess === undefined ? '' : ` (did you mean ${guess}?)`;
          return `unknown key ${JSON.stringify(key)}${hint}: allowed keys are ${keys.join(', ')}`;
        })
        .join('\n');
    },
  });
}

export function matching(pattern: RegExp, noun: string, allowed: string) {
  return z.string({ error: explain(noun, allowed) }).regex(pattern);
}

export const channelId = matching(
  CHANNEL_ID,
  'a Slack channel id',
  'use the channel id (C… or G…, like C0123456789) from the channel details, not its name',
);

const userId = matching(
  USER_ID,
  'a Slack user id',
  'use member ids like U01AB2CD3 (profile → ⋮ → Copy member ID), not names or @handles',
);

export const duration = z.string({ error: explain('a duration', DURATION_HINT) }).transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.issues.push({ code: 'custom', input: text, message: (error as Error).message });
    return z.NEVER;
  }
});

function members(role: 'owner' | 'requester' | 'MFA admin', minimum: number) {
  const entry = z
    .string({ error: explain(`a Slack user id or group name`, 'use ids like U01AB2CD3 or group names like db-owners') })
    .refine((value) => USER_ID.test(value) || GROUP_NAME.test(value));
  return z
    .array(entry, {
      error: explain(`a list of ${role}s`, `list Slack user ids or group names, like [db-owners, U01AB2CD3]`),
    })
    .min(minimum, {
      error: `needs at least one ${role}: list Slack user ids or group names, like [db-owners, U01AB2CD3]`,
    });
}

/** The name of an environment variable that holds a secret: the policy names it, never holds it. */
export const envName = matching(
  /^[A-Z_][A-Z0-9_]{0,127}$/,
  'the name of an environment variable',
  'name the variable that holds the secret, like GATEHOUSE_WEBHOOK_SECRET; never put the secret itself in the policy',
);

/**
 * A resource's `provisioner:` block as its kind's schema reads it: plain data (it travels to
 * the background thread), with `kind` naming the kind. Each kind's fields are its own.
 */
export interface ProvisionerConfig {
  readonly kind: string;
}

/** A provisioner kind as the policy file knows it: its name and the schema of its block. */
export interface ProvisionerSchema {
  readonly kind: string;
  /** Includes `kind: z.literal(kind)`; its output is the config the provisioner is built from. */
  readonly schema: z.ZodType<ProvisionerConfig>;
}

function provisionerSchema(kinds: readonly ProvisionerSchema[]): z.ZodType<ProvisionerConfig> {
  const allowed = `allowed kinds are ${kinds.map((k) => k.kind).join(', ')}`;
  // Each kind's schema has a literal `kind`, so zod can pick it; the types cannot say so.
  const options = kinds.map((k) => k.schema) as unknown as [
    z.core.$ZodTypeDiscriminable,
    ...z.core.$ZodTypeDiscriminable[],
  ];
  return z.discriminatedUnion('kind', options, {
    error: (issue) => {
      if (issue.code !== 'invalid_union')
        return explain('a provisioner', `use a mapping like { kind: none }; ${allowed}`)(issue);
      const kind = isRecord(issue.input) ? issue.input['kind'] : undefined;
      return kind === undefined ? `is required: ${allowed}` : `${describe(kind)} is not a provisioner kind: ${allowed}`;
    },
  }) as unknown as z.ZodType<ProvisionerConfig>;
}

/** One resource, its provisioner block read by the schema of its kind. */
export function resourceSchema(kinds: readonly ProvisionerSchema[]) {
  return strict(
    {
      id: matching(
        RESOURCE_ID,
        'a resource id',
        'use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit, like prod-db',
      ),
      name: z
        .string({
          error: explain(
            'a name',
            'give a short description people will recognise, like Production database (read-only)',
          ),
        })
        .trim()
        .min(1),
      owners: members('owner', 1),
      requesters: members('requester', 0),
      default_duration: duration,
      max_duration: duration,
      approvals_required: z
        .number({ error: explain('a number of approvals', 'use a whole number, 1 or more') })
        .int()
        .min(1)
        .default(1),
      require_mfa: z.boolean({ error: explain('true or false', 'write true or false, without quotes') }).default(false),
      approver_mfa: z
        .boolean({ error: explain('true or false', 'write true or false, without quotes') })
        .default(false),
      approval_channel: channelId.nullish(),
      // Read by ResourceAlertsSchema (alerts-policy.ts), which builds on these helpers.
      alerts: z.unknown().optional(),
      // Read by BreakGlassSchema (break-glass-policy.ts), which builds on these helpers.
      break_glass: z.unknown().optional(),
      // Read by readAsking (asking-policy.ts): a ticket reference, and escalation to a fallback group.
      ticket: z.unknown().optional(),
      escalate_after: z.unknown().optional(),
      escalate_to: z.unknown().optional(),
      on_call: z.unknown().optional(),
      // Read by ResourceReviewsSchema (reviews-policy.ts).
      reviews: z.unknown().optional(),
      provisioner: provisionerSchema(kinds),
    },
    'a resource',
    'each resource is a mapping with id, name, owners, requesters, default_duration, max_duration and provisioner',
  );
}

export const GroupsSchema = z.record(
  z.string().regex(GROUP_NAME),
  z.array(userId, { error: explain('a list of Slack user ids', 'write the members like [U01AB2CD3, U01AB2CD4]') }),
  {
    error: (issue) =>
      issue.code === 'invalid_key'
        ? `${describe(issue.input)} is not a group name: use lowercase letters, digits, - and _, starting with a letter, like db-owners`
        : explain(
            'a set of groups',
            'map each group name to a list of Slack user ids, like contractors: [U01AB2CD3]',
          )(issue),
  },
);

export const FileSchema = strict(
  {
    audit_channel: channelId,
    request_ttl: duration.default(DEFAULT_REQUEST_TTL_MS),
    remind_after: duration.nullish(),
    checkpoint_every: duration.default(DEFAULT_CHECKPOINT_EVERY_MS),
    checkpoint_every_events: z
      .number({ error: explain('a number of events', 'write a whole number like 1000') })
      .int()
      .min(1)
      .default(1000),
    groups: GroupsSchema.default({}),
    mfa_admins: members('MFA admin', 0).default([]),
    // Read by AlertsSchema (alerts-policy.ts), which builds on these helpers.
    alerts: z.unknown().optional(),
    // Read by ContractsSchema (contracts-policy.ts).
    contracts: z.unknown().optional(),
    // Read by ReviewsSchema (reviews-policy.ts).
    reviews: z.unknown().optional(),
    resources: z
      .array(z.unknown(), {
        error: explain('a list of resources', 'list resources as YAML items, each starting with - id:'),
      })
      .min(1, { error: 'needs at least one resource: add one under resources:, see gatehouse.example.yml' }),
  },
  'a policy',
  'the file must be a mapping with audit_channel, groups and resources at the top level (and optionally alerts)',
);

export type ResourceFields = z.output<ReturnType<typeof resourceSchema>>;
