/**
 * The zod schema layer of the policy file: what each field may hold, and messages that say
 * what was found, what was expected and what is allowed. policy.ts runs these schemas and
 * adds the rules that span fields, resources and groups.
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
function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (isRecord(value)) return 'a mapping';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A zod error callback: say what was found, what was expected, and what is allowed. */
function explain(noun: string, allowed: string) {
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
function strict<T extends z.core.$ZodLooseShape>(shape: T, noun: string, allowed: string) {
  const keys = Object.keys(shape);
  const otherwise = explain(noun, allowed);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return otherwise(issue);
      return issue.keys.map((key) => {
        const guess = closest(key, keys);
        const hint = guess === undefined ? '' : ` (did you mean ${guess}?)`;
        return `unknown key ${JSON.stringify(key)}${hint}: allowed keys are ${keys.join(', ')}`;
      }).join('\n');
    },
  });
}

function matching(pattern: RegExp, noun: string, allowed: string) {
  return z.string({ error: explain(noun, allowed) }).regex(pattern);
}

const channelId = matching(CHANNEL_ID, 'a Slack channel id',
  'use the channel id (C… or G…, like C0123456789) from the channel details, not its name');

const userId = matching(USER_ID, 'a Slack user id',
  'use member ids like U01AB2CD3 (profile → ⋮ → Copy member ID), not names or @handles');

const duration = z.string({ error: explain('a duration', DURATION_HINT) }).transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.issues.push({ code: 'custom', input: text, message: (error as Error).message });
    return z.NEVER;
  }
});

function members(role: 'owner' | 'requester' | 'MFA admin', minimum: number) {
  const entry = z.string({ error: explain(`a Slack user id or group name`, 'use ids like U01AB2CD3 or group names like db-owners') })
    .refine((value) => USER_ID.test(value) || GROUP_NAME.test(value));
  return z.array(entry, {
    error: explain(`a list of ${role}s`, `list Slack user ids or group names, like [db-owners, U01AB2CD3]`),
  }).min(minimum, { error: `needs at least one ${role}: list Slack user ids or group names, like [db-owners, U01AB2CD3]` });
}

const NoneProvisionerSchema = strict({ kind: z.literal('none') }, 'a provisioner', 'kind none takes no other settings');

/** The name of an environment variable that holds a secret: the policy names it, never holds it. */
const envName = matching(/^[A-Z_][A-Z0-9_]{0,127}$/, 'the name of an environment variable',
  'name the variable that holds the secret, like GATEHOUSE_WEBHOOK_SECRET; never put the secret itself in the policy');

const WebhookProvisionerSchema = strict({
  kind: z.literal('webhook'),
  url: z.string({ error: explain('a URL', 'give the receiver\'s address, like https://hooks.example.com/gatehouse') })
    .refine((text) => {
      try {
        return ['http:', 'https:'].includes(new URL(text).protocol);
      } catch {
        return false;
      }
    }, { error: 'is not an http(s) URL: give the receiver\'s address, like https://hooks.example.com/gatehouse' }),
  secret_env: envName,
  timeout_seconds: z.number({ error: explain('a number of seconds', 'use a whole number from 1 to 120, like 10') }).int().min(1).max(120).optional(),
}, 'a webhook provisioner', 'kind webhook takes url, secret_env and optionally timeout_seconds');

const PostgresProvisionerSchema = strict({
  kind: z.literal('postgres'),
  connection_env: envName,
  roles: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/), {
    error: explain('a list of role names', 'list the roles a grant joins, like [readonly]'),
  }).min(1, { error: 'needs at least one role: list the roles a grant joins, like [readonly]' }),
}, 'a postgres provisioner', 'kind postgres takes connection_env and roles');

const UsergroupProvisionerSchema = strict({
  kind: z.literal('slack_usergroup'),
  usergroup: matching(/^S[A-Z0-9]{2,}$/, 'a Slack user group id', 'use the group\'s id (S…, like S0123ABCDEF), not its @handle'),
}, 'a slack_usergroup provisioner', 'kind slack_usergroup takes usergroup');

const PROVISIONER_SCHEMAS = [NoneProvisionerSchema, WebhookProvisionerSchema, PostgresProvisionerSchema, UsergroupProvisionerSchema] as const;
const PROVISIONER_KINDS = PROVISIONER_SCHEMAS.map((schema) => schema.shape.kind.value);

const ProvisionerSchema = z.discriminatedUnion('kind', PROVISIONER_SCHEMAS, {
  error: (issue) => {
    const allowed = `allowed kinds are ${PROVISIONER_KINDS.join(', ')}`;
    if (issue.code !== 'invalid_union') return explain('a provisioner', `use a mapping like { kind: none }; ${allowed}`)(issue);
    const kind = isRecord(issue.input) ? issue.input['kind'] : undefined;
    return kind === undefined ? `is required: ${allowed}` : `${describe(kind)} is not a provisioner kind: ${allowed}`;
  },
});

export const ResourceSchema = strict({
  id: matching(RESOURCE_ID, 'a resource id',
    'use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit, like prod-db'),
  name: z.string({ error: explain('a name', 'give a short description people will recognise, like Production database (read-only)') })
    .trim().min(1),
  owners: members('owner', 1),
  requesters: members('requester', 0),
  default_duration: duration,
  max_duration: duration,
  approvals_required: z.number({ error: explain('a number of approvals', 'use a whole number, 1 or more') })
    .int().min(1).default(1),
  require_mfa: z.boolean({ error: explain('true or false', 'write true or false, without quotes') }).default(false),
  approver_mfa: z.boolean({ error: explain('true or false', 'write true or false, without quotes') }).default(false),
  approval_channel: channelId.nullish(),
  provisioner: ProvisionerSchema,
}, 'a resource', 'each resource is a mapping with id, name, owners, requesters, default_duration, max_duration and provisioner');

export const GroupsSchema = z.record(
  z.string().regex(GROUP_NAME),
  z.array(userId, { error: explain('a list of Slack user ids', 'write the members like [U01AB2CD3, U01AB2CD4]') }),
  {
    error: (issue) => issue.code === 'invalid_key'
      ? `${describe(issue.input)} is not a group name: use lowercase letters, digits, - and _, starting with a letter, like db-owners`
      : explain('a set of groups', 'map each group name to a list of Slack user ids, like contractors: [U01AB2CD3]')(issue),
  },
);

export const FileSchema = strict({
  audit_channel: channelId,
  request_ttl: duration.default(DEFAULT_REQUEST_TTL_MS),
  remind_after: duration.nullish(),
  checkpoint_every: duration.default(DEFAULT_CHECKPOINT_EVERY_MS),
  checkpoint_every_events: z.number({ error: explain('a number of events', 'write a whole number like 1000') }).int().min(1).default(1000),
  groups: GroupsSchema.default({}),
  mfa_admins: members('MFA admin', 0).default([]),
  resources: z.array(z.unknown(), { error: explain('a list of resources', 'list resources as YAML items, each starting with - id:') })
    .min(1, { error: 'needs at least one resource: add one under resources:, see gatehouse.example.yml' }),
}, 'a policy', 'the file must be a mapping with audit_channel, groups and resources at the top level');

export type ResourceFields = z.output<typeof ResourceSchema>;
export type ProvisionerFields = z.output<typeof ProvisionerSchema>;
