/**
 * The policy file: the only source of who may ask for what, who approves it and for how
 * long. It is read once at start-up; a bad file must stop the bot with a message an
 * operator can act on, so every problem names the file, the line, the path inside the
 * file and what is allowed, and all problems are reported at once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { DURATION_HINT, formatDuration, parseDuration } from './duration.ts';

/** One variant per provisioner kind; later kinds (postgres, slack_usergroup, webhook) join the union. */
export interface NoneProvisionerConfig { kind: 'none' }
export type ProvisionerConfig = NoneProvisionerConfig;

export interface ResourcePolicy {
  id: string;
  name: string;
  /** Expanded from groups, de-duplicated and sorted Slack user ids. */
  owners: string[];
  /** Expanded from groups, de-duplicated and sorted Slack user ids. */
  requesters: string[];
  defaultDurationMs: number;
  maxDurationMs: number;
  approvalsRequired: number;
  requireMfa: boolean;
  approvalChannel: string | null;
  provisioner: ProvisionerConfig;
}

export interface Policy {
  auditChannel: string;
  requestTtlMs: number;
  groups: ReadonlyMap<string, readonly string[]>;
  resources: ResourcePolicy[];
}

export interface LoadedPolicy {
  policy: Policy;
  /** Absolute path the policy was read from. */
  path: string;
  /** Hex SHA-256 of the file's exact bytes, recorded in the audit log when it changes. */
  sha256: string;
}

export interface PolicyProblem {
  /** Where in the file, like `resources[2].max_duration`; empty for the file as a whole. */
  path: string;
  line?: number;
  message: string;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly file: string;
  readonly problems: PolicyProblem[];

  constructor(file: string, problems: PolicyProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    const lines = problems.map((problem) => `  ${formatProblem(file, problem)}`);
    super([`Policy file ${file} is not valid (${count}):`, ...lines].join('\n'));
    this.file = file;
    this.problems = problems;
  }
}

function formatProblem(file: string, { path, line, message }: PolicyProblem): string {
  const location = line === undefined ? file : `${file}:${line}`;
  return path === '' ? `${location}: ${message}` : `${location} ${path}: ${message}`;
}

// Slack ids are upper-case; group names are lower-case so the two can never be confused.
const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;
const GROUP_NAME = /^[a-z][a-z0-9_-]*$/;
const RESOURCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const DEFAULT_REQUEST_TTL_MS = parseDuration('24h');

type PathSegment = PropertyKey;
interface Finding { path: PathSegment[]; message: string }

function isRecord(value: unknown): value is Record<string, unknown> {
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
 * key, in order; findingsFrom splits them into one problem per key.
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

function members(role: 'owner' | 'requester', minimum: number) {
  const entry = z.string({ error: explain(`a Slack user id or group name`, 'use ids like U01AB2CD3 or group names like db-owners') })
    .refine((value) => USER_ID.test(value) || GROUP_NAME.test(value));
  return z.array(entry, {
    error: explain(`a list of ${role}s`, `list Slack user ids or group names, like [db-owners, U01AB2CD3]`),
  }).min(minimum, { error: `needs at least one ${role}: list Slack user ids or group names, like [db-owners, U01AB2CD3]` });
}

const NoneProvisionerSchema = strict({ kind: z.literal('none') }, 'a provisioner', 'kind none takes no other settings');
const PROVISIONER_SCHEMAS = [NoneProvisionerSchema] as const;
const PROVISIONER_KINDS = PROVISIONER_SCHEMAS.map((schema) => schema.shape.kind.value);

const ProvisionerSchema = z.discriminatedUnion('kind', PROVISIONER_SCHEMAS, {
  error: (issue) => {
    const allowed = `allowed kinds are ${PROVISIONER_KINDS.join(', ')}`;
    if (issue.code !== 'invalid_union') return explain('a provisioner', `use a mapping like { kind: none }; ${allowed}`)(issue);
    const kind = isRecord(issue.input) ? issue.input['kind'] : undefined;
    return kind === undefined ? `is required: ${allowed}` : `${describe(kind)} is not a provisioner kind: ${allowed}`;
  },
});

const ResourceSchema = strict({
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
  approval_channel: channelId.nullish(),
  provisioner: ProvisionerSchema,
}, 'a resource', 'each resource is a mapping with id, name, owners, requesters, default_duration, max_duration and provisioner');

const GroupsSchema = z.record(
  z.string().regex(GROUP_NAME),
  z.array(userId, { error: explain('a list of Slack user ids', 'write the members like [U01AB2CD3, U01AB2CD4]') }),
  {
    error: (issue) => issue.code === 'invalid_key'
      ? `${describe(issue.input)} is not a group name: use lowercase letters, digits, - and _, starting with a letter, like db-owners`
      : explain('a set of groups', 'map each group name to a list of Slack user ids, like contractors: [U01AB2CD3]')(issue),
  },
);

const FileSchema = strict({
  audit_channel: channelId,
  request_ttl: duration.default(DEFAULT_REQUEST_TTL_MS),
  groups: GroupsSchema.default({}),
  resources: z.array(z.unknown(), { error: explain('a list of resources', 'list resources as YAML items, each starting with - id:') })
    .min(1, { error: 'needs at least one resource: add one under resources:, see gatehouse.example.yml' }),
}, 'a policy', 'the file must be a mapping with audit_channel, groups and resources at the top level');

type ResourceFields = z.output<typeof ResourceSchema>;
type Groups = ReadonlyMap<string, readonly string[]>;

function findingsFrom(error: z.ZodError, prefix: PathSegment[] = []): Finding[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'unrecognized_keys') return [{ path, message: issue.message }];
    // One problem per unknown key, each pointing at the key's own line.
    const messages = issue.message.split('\n');
    return issue.keys.map((key, i) => ({ path: [...path, key], message: messages[i] ?? issue.message }));
  });
}

function uniqueSorted(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort();
}

function expand(entries: readonly string[], groups: Groups): string[] {
  return uniqueSorted(entries.flatMap((entry) => (USER_ID.test(entry) ? [entry] : groups.get(entry) ?? [])));
}

/** Rules that span fields or resources, checked on whatever passed the schema. */
function crossCheck(resources: ReadonlyMap<number, ResourceFields>, groups: Groups | undefined): Finding[] {
  const findings: Finding[] = [];
  const firstIndexOfId = new Map<string, number>();
  const defined = groups === undefined ? '' : [...groups.keys()].join(', ') || 'none';
  for (const [index, resource] of resources) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['resources', index, ...rest];
    const earlier = firstIndexOfId.get(resource.id);
    if (earlier === undefined) firstIndexOfId.set(resource.id, index);
    else findings.push({ path: at('id'), message: `${JSON.stringify(resource.id)} is already the id of resources[${earlier}]: resource ids must be unique` });

    if (resource.default_duration > resource.max_duration) {
      findings.push({
        path: at('default_duration'),
        message: `${formatDuration(resource.default_duration)} is longer than max_duration ${formatDuration(resource.max_duration)}: lower default_duration or raise max_duration`,
      });
    }
    if (groups === undefined) continue;
    for (const field of ['owners', 'requesters'] as const) {
      resource[field].forEach((entry, k) => {
        if (!USER_ID.test(entry) && !groups.has(entry)) {
          findings.push({ path: at(field, k), message: `${JSON.stringify(entry)} is not a defined group (defined groups: ${defined}): add it under groups or use a Slack user id` });
        }
      });
    }
    const owners = expand(resource.owners, groups);
    if (owners.length === 0) {
      findings.push({ path: at('owners'), message: 'expands to no one: add members to the listed groups or list Slack user ids' });
    } else if (resource.approvals_required > owners.length) {
      findings.push({
        path: at('approvals_required'),
        message: `${resource.approvals_required} approvals are required but there ${owners.length === 1 ? 'is only 1 distinct owner' : `are only ${owners.length} distinct owners`}: lower approvals_required or add owners`,
      });
    }
  }
  return findings;
}

function toProvisioner(config: z.output<typeof ProvisionerSchema>): ProvisionerConfig {
  switch (config.kind) {
    case 'none':
      return { kind: 'none' };
  }
}

function toResource(resource: ResourceFields, groups: Groups): ResourcePolicy {
  return {
    id: resource.id,
    name: resource.name,
    owners: expand(resource.owners, groups),
    requesters: expand(resource.requesters, groups),
    defaultDurationMs: resource.default_duration,
    maxDurationMs: resource.max_duration,
    approvalsRequired: resource.approvals_required,
    requireMfa: resource.require_mfa,
    approvalChannel: resource.approval_channel ?? null,
    provisioner: toProvisioner(resource.provisioner),
  };
}

function formatPath(path: readonly PathSegment[]): string {
  return path.map((segment, i) => {
    if (typeof segment === 'number') return `[${segment}]`;
    const key = String(segment);
    if (!/^[A-Za-z0-9_-]+$/.test(key)) return `[${JSON.stringify(key)}]`;
    return i === 0 ? key : `.${key}`;
  }).join('');
}

/** The line of the deepest YAML node on `path` that exists: the key's line for mapping entries. */
function lineAt(doc: Document, lines: LineCounter, path: readonly PathSegment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      offset = isNode(pair.key) ? pair.key.range?.[0] ?? offset : offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (!isNode(node)) break;
      offset = node.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

/** Parses and validates policy text; `file` is the name used in messages. Throws PolicyError. */
export function parsePolicy(text: string, file: string): Policy {
  if (text.trim() === '') {
    throw new PolicyError(file, [{ path: '', message: 'the file is empty: start from gatehouse.example.yml' }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(file, doc.errors.map((error) => ({
      path: '',
      line: lines.linePos(error.pos[0]).line,
      message: `not valid YAML: ${error.message}`,
    })));
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    throw new PolicyError(file, [{ path: '', message: `not valid YAML: ${(error as Error).message}` }]);
  }

  const findings: Finding[] = [];
  const top = FileSchema.safeParse(data);
  if (!top.success) findings.push(...findingsFrom(top.error));

  // Validate each resource on its own so that one bad resource does not hide the others.
  const raw = isRecord(data) ? data : {};
  const resources = new Map<number, ResourceFields>();
  (Array.isArray(raw['resources']) ? raw['resources'] : []).forEach((item: unknown, index) => {
    const result = ResourceSchema.safeParse(item);
    if (result.success) resources.set(index, result.data);
    else findings.push(...findingsFrom(result.error, ['resources', index]));
  });
  const groupsResult = GroupsSchema.default({}).safeParse(raw['groups']);
  const groups = groupsResult.success
    ? new Map(Object.entries(groupsResult.data).map(([name, ids]) => [name, uniqueSorted(ids)] as const))
    : undefined;
  findings.push(...crossCheck(resources, groups));

  if (!top.success || groups === undefined || findings.length > 0) {
    const problems = findings.map(({ path, message }) => ({ path: formatPath(path), line: lineAt(doc, lines, path), message }));
    // Report in file order, like a compiler, so the operator can fix from the top down.
    problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
    throw new PolicyError(file, problems);
  }
  return {
    auditChannel: top.data.audit_channel,
    requestTtlMs: top.data.request_ttl,
    groups,
    resources: [...resources.values()].map((resource) => toResource(resource, groups)),
  };
}

function unreadable(error: unknown, absolute: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return `the file does not exist (looked for ${absolute}): set GATEHOUSE_POLICY to the path of your policy file, or copy gatehouse.example.yml as a starting point`;
  }
  if (code === 'EISDIR') return `is a directory (${absolute}): set GATEHOUSE_POLICY to the path of a YAML file`;
  return `cannot be read (${absolute}): ${(error as Error).message}`;
}

/** Reads, hashes and validates the policy file. Throws PolicyError. */
export async function loadPolicyFile(file: string): Promise<LoadedPolicy> {
  const path = resolve(file);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new PolicyError(file, [{ path: '', message: unreadable(error, path) }]);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PolicyError(file, [{ path: '', message: 'is not UTF-8 text: save it as UTF-8' }]);
  }
  return { policy: parsePolicy(text, file), path, sha256 };
}

export function resourceById(policy: Policy, id: string): ResourcePolicy | undefined {
  return policy.resources.find((resource) => resource.id === id);
}
