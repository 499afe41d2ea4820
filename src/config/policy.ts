/**
 * The policy file: the only source of who may ask for what, who approves it and for how
 * long. It is read once at start-up; a bad file must stop the bot with a message an
 * operator can act on, so every problem names the file, the line, the path inside the
 * file and what is allowed, and all problems are reported at once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { asSlackUserId, type SlackUserId } from '../db/ids.ts';
import {
  ALERTS_OFF,
  AlertsSchema,
  ResourceAlertsSchema,
  toAlertPolicy,
  toResourceAlerts,
  type AlertPolicy,
  type AlertsFields,
  type ResourceAlerts,
  type ResourceAlertsFields,
} from './alerts-policy.ts';
import {
  BreakGlassSchema,
  checkBreakGlass,
  toBreakGlass,
  type BreakGlassFields,
  type BreakGlassPolicy,
} from './break-glass-policy.ts';
import { readAsking, type EscalationPolicy, type OnCallPolicy, type TicketPolicy } from './asking-policy.ts';
import { checkContracts, ContractsSchema, toContracts, type ContractEnd } from './contracts-policy.ts';
import { formatDuration } from './duration.ts';
import { ResourceReviewsSchema, ReviewsSchema, toResourceReview, type ResourceReview } from './reviews-policy.ts';
import {
  FileSchema,
  GroupsSchema,
  isRecord,
  resourceSchema,
  USER_ID,
  type ProvisionerConfig,
  type ProvisionerSchema,
  type ResourceFields,
} from './policy-schema.ts';

export type { ProvisionerConfig, ProvisionerSchema } from './policy-schema.ts';

export interface ResourcePolicy {
  id: string;
  name: string;
  /** Expanded from groups, de-duplicated and sorted Slack user ids. */
  owners: SlackUserId[];
  /** Expanded from groups, de-duplicated and sorted Slack user ids. */
  requesters: SlackUserId[];
  defaultDurationMs: number;
  maxDurationMs: number;
  approvalsRequired: number;
  /** Requesters give a current TOTP code with the request. */
  requireMfa: boolean;
  /** Each approval needs the approver's current TOTP code. */
  approverMfa: boolean;
  approvalChannel: string | null;
  /** Working hours, sensitive tables and row threshold for the alert detectors. */
  alerts: ResourceAlerts;
  /** Who may take access at once in an emergency, to be ratified by owners (break-glass-policy.ts); null: nobody. */
  breakGlass: BreakGlassPolicy | null;
  /** A ticket reference every request must carry (asking-policy.ts); unset: none. */
  ticket?: TicketPolicy;
  /** A request still waiting after this long goes to a fallback group too (asking-policy.ts); unset: never. */
  escalation?: EscalationPolicy;
  /** Requests ask whoever its schedule says is on call, not every owner (asking-policy.ts); unset: every owner. */
  onCall?: OnCallPolicy;
  provisioner: ProvisionerConfig;
}

export interface Policy {
  auditChannel: string;
  requestTtlMs: number;
  /** First reminder to owners of a waiting request; each next one waits twice as long. Null: none. */
  remindAfterMs: number | null;
  /** A signed checkpoint is made after this many events or this long, whichever comes first. */
  checkpointEveryEvents: number;
  checkpointEveryMs: number;
  groups: ReadonlyMap<string, readonly SlackUserId[]>;
  /** Who may reset another person's MFA (expanded from groups, like owners). */
  mfaAdmins: SlackUserId[];
  /** The alert detectors, where alerts go and who may act on them (alerts-policy.ts). */
  alerts: AlertPolicy;
  /** Each contractor's contract end, by person (contracts-policy.ts): no grant runs past it. */
  contracts: ReadonlyMap<SlackUserId, ContractEnd>;
  /** Each reviewed resource's review schedule, by resource id (reviews-policy.ts). */
  reviews: ReadonlyMap<string, ResourceReview>;
  /** Each resource's `requesters:` entries as written (ids and group names), by resource id: what a review's removal edits. */
  requesterEntries: ReadonlyMap<string, readonly string[]>;
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

type PathSegment = PropertyKey;
interface Finding {
  path: PathSegment[];
  message: string;
}
type Groups = ReadonlyMap<string, readonly SlackUserId[]>;

function findingsFrom(error: z.ZodError, prefix: PathSegment[] = []): Finding[] {
  return error.issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'unrecognized_keys') return [{ path, message: issue.message }];
    // One problem per unknown key, each pointing at the key's own line.
    const messages = issue.message.split('\n');
    return issue.keys.map((key, i) => ({ path: [...path, key], message: messages[i] ?? issue.message }));
  });
}

function uniqueSorted<T extends string>(ids: Iterable<T>): T[] {
  return [...new Set(ids)].sort();
}

/** The policy file is where owners, requesters and admins arrive: their ids are typed here, once the schema has checked them. */
function expand(entries: readonly string[], groups: Groups): SlackUserId[] {
  return uniqueSorted(
    entries.flatMap((entry) => (USER_ID.test(entry) ? [asSlackUserId(entry)] : (groups.get(entry) ?? []))),
  );
}

/** Rules that span fields or resources, checked on whatever passed the schema. */
function crossCheck(
  resources: ReadonlyMap<number, ResourceFields>,
  groups: Groups | undefined,
  mfaAdmins: readonly string[],
): Finding[] {
  const findings: Finding[] = [];
  const defined = groups === undefined ? '' : [...groups.keys()].join(', ') || 'none';
  const undefinedGroup = (entry: string) =>
    `${JSON.stringify(entry)} is not a defined group (defined groups: ${defined}): add it under groups or use a Slack user id`;
  if (groups !== undefined) {
    mfaAdmins.forEach((entry, k) => {
      if (!USER_ID.test(entry) && !groups.has(entry))
        findings.push({ path: ['mfa_admins', k], message: undefinedGroup(entry) });
    });
  }
  const firstIndexOfId = new Map<string, number>();
  for (const [index, resource] of resources) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['resources', index, ...rest];
    const earlier = firstIndexOfId.get(resource.id);
    if (earlier === undefined) firstIndexOfId.set(resource.id, index);
    else
      findings.push({
        path: at('id'),
        message: `${JSON.stringify(resource.id)} is already the id of resources[${earlier}]: resource ids must be unique`,
      });

    if (resource.default_duration > resource.max_duration) {
      findings.push({
        path: at('default_duration'),
        message: `${formatDuration(resource.default_duration)} is longer than max_duration ${formatDuration(resource.max_duration)}: lower default_duration or raise max_duration`,
      });
    }
    if (groups === undefined) continue;
    for (const field of ['owners', 'requesters'] as const) {
      resource[field].forEach((entry, k) => {
        if (!USER_ID.test(entry) && !groups.has(entry))
          findings.push({ path: at(field, k), message: undefinedGroup(entry) });
      });
    }
    const owners = expand(resource.owners, groups);
    if (owners.length === 0) {
      findings.push({
        path: at('owners'),
        message: 'expands to no one: add members to the listed groups or list Slack user ids',
      });
    } else if (resource.approvals_required > owners.length) {
      findings.push({
        path: at('approvals_required'),
        message: `${resource.approvals_required} approvals are required but there ${owners.length === 1 ? 'is only 1 distinct owner' : `are only ${owners.length} distinct owners`}: lower approvals_required or add owners`,
      });
    }
  }
  return findings;
}

/** The alerts section names groups: each must be defined. */
function checkAlertGroups(alerts: AlertsFields | undefined, groups: Groups): Finding[] {
  if (!alerts) return [];
  const defined = [...groups.keys()].join(', ') || 'none';
  const findings: Finding[] = [];
  alerts.security.forEach((entry, k) => {
    if (!USER_ID.test(entry) && !groups.has(entry))
      findings.push({
        path: ['alerts', 'security', k],
        message: `${JSON.stringify(entry)} is not a defined group (defined groups: ${defined}): add it under groups or use a Slack user id`,
      });
  });
  for (const name of Object.keys(alerts.group_working_hours))
    if (!groups.has(name))
      findings.push({
        path: ['alerts', 'group_working_hours', name],
        message: `${JSON.stringify(name)} is not a defined group (defined groups: ${defined}): add it under groups`,
      });
  return findings;
}

function toResource(
  resource: ResourceFields,
  alerts: ResourceAlertsFields | undefined,
  groups: Groups,
  breakGlass: BreakGlassFields | undefined,
  security: readonly SlackUserId[],
): ResourcePolicy {
  return {
    id: resource.id,
    name: resource.name,
    owners: expand(resource.owners, groups),
    requesters: expand(resource.requesters, groups),
    defaultDurationMs: resource.default_duration,
    maxDurationMs: resource.max_duration,
    approvalsRequired: resource.approvals_required,
    requireMfa: resource.require_mfa,
    approverMfa: resource.approver_mfa,
    approvalChannel: resource.approval_channel ?? null,
    alerts: toResourceAlerts(alerts),
    breakGlass: toBreakGlass(breakGlass, (entries) => expand(entries, groups), security),
    provisioner: resource.provisioner,
  };
}

function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, i) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const key = String(segment);
      if (!/^[A-Za-z0-9_-]+$/.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join('');
}

/** The line of the deepest YAML node on `path` that exists: the key's line for mapping entries. */
function lineAt(doc: Document, lines: LineCounter, path: readonly PathSegment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      offset = isNode(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
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

/** The resource schema for a list of provisioner kinds, made once per list. */
const resourceSchemas = new WeakMap<readonly ProvisionerSchema[], ReturnType<typeof resourceSchema>>();

function resourceSchemaFor(kinds: readonly ProvisionerSchema[]): ReturnType<typeof resourceSchema> {
  let schema = resourceSchemas.get(kinds);
  if (!schema) {
    schema = resourceSchema(kinds);
    resourceSchemas.set(kinds, schema);
  }
  return schema;
}

/**
 * Parses and validates policy text; `file` is the name used in messages; `kinds` are the
 * provisioner kinds a `provisioner:` block may name (the registry's: provisioners/index.ts
 * has parsePolicy and loadPolicyFile with them). Throws PolicyError.
 */
export function parsePolicyWith(text: string, file: string, kinds: readonly ProvisionerSchema[]): Policy {
  if (text.trim() === '') {
    throw new PolicyError(file, [{ path: '', message: 'the file is empty: start from gatehouse.example.yml' }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((error) => ({
        path: '',
        line: lines.linePos(error.pos[0]).line,
        message: `not valid YAML: ${error.message}`,
      })),
    );
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
  const resourceAlerts = new Map<number, ResourceAlertsFields>();
  const resourceBreakGlass = new Map<number, BreakGlassFields>();
  const resourceFields = resourceSchemaFor(kinds);
  (Array.isArray(raw['resources']) ? raw['resources'] : []).forEach((item: unknown, index) => {
    const result = resourceFields.safeParse(item);
    if (result.success) resources.set(index, result.data);
    else findings.push(...findingsFrom(result.error, ['resources', index]));
    const alerts = ResourceAlertsSchema.optional().safeParse(
      isRecord(item) ? (item['alerts'] ?? undefined) : undefined,
    );
    if (!alerts.success) findings.push(...findingsFrom(alerts.error, ['resources', index, 'alerts']));
    else if (alerts.data) resourceAlerts.set(index, alerts.data);
    const breakGlass = BreakGlassSchema.optional().safeParse(
      isRecord(item) ? (item['break_glass'] ?? undefined) : undefined,
    );
    if (!breakGlass.success) findings.push(...findingsFrom(breakGlass.error, ['resources', index, 'break_glass']));
    else if (breakGlass.data) resourceBreakGlass.set(index, breakGlass.data);
  });
  const reviewsResult = ReviewsSchema.optional().safeParse(raw['reviews'] ?? undefined);
  if (!reviewsResult.success) findings.push(...findingsFrom(reviewsResult.error, ['reviews']));
  const reviews = new Map<string, ResourceReview>();
  (Array.isArray(raw['resources']) ? raw['resources'] : []).forEach((item: unknown, index) => {
    const own = ResourceReviewsSchema.optional().safeParse(isRecord(item) ? (item['reviews'] ?? undefined) : undefined);
    if (!own.success) return findings.push(...findingsFrom(own.error, ['resources', index, 'reviews']));
    const resource = resources.get(index);
    if (!resource || !reviewsResult.success) return;
    const review = toResourceReview(reviewsResult.data, own.data, (...rest) => ['resources', index, ...rest]);
    if (review && 'message' in review) findings.push(review);
    else if (review) reviews.set(resource.id, review);
  });
  const contractsResult = ContractsSchema.optional().safeParse(raw['contracts'] ?? undefined);
  if (!contractsResult.success) findings.push(...findingsFrom(contractsResult.error, ['contracts']));
  const alertsResult = AlertsSchema.optional().safeParse(
    raw['alerts'] === false ? ALERTS_OFF : (raw['alerts'] ?? undefined),
  );
  if (!alertsResult.success) findings.push(...findingsFrom(alertsResult.error, ['alerts']));
  const groupsResult = GroupsSchema.default({}).safeParse(raw['groups']);
  const groups = groupsResult.success
    ? new Map(
        Object.entries(groupsResult.data).map(([name, ids]) => [name, uniqueSorted(ids.map(asSlackUserId))] as const),
      )
    : undefined;
  const mfaAdmins = top.success ? top.data.mfa_admins : [];
  findings.push(...crossCheck(resources, groups, mfaAdmins));
  const asking = new Map<number, { ticket?: TicketPolicy; escalation?: EscalationPolicy; onCall?: OnCallPolicy }>();
  (Array.isArray(raw['resources']) ? raw['resources'] : []).forEach((item: unknown, index) => {
    if (!isRecord(item)) return;
    const fields = resources.get(index);
    const owners = fields && groups ? expand(fields.owners, groups) : [];
    const read = readAsking(item, groups, (...rest) => ['resources', index, ...rest], dirname(resolve(file)), owners);
    findings.push(...read.findings);
    // A request unanswered past request_ttl has expired: an escalation after that would never happen.
    if (read.escalation && top.success && read.escalation.afterMs >= top.data.request_ttl)
      findings.push({
        path: ['resources', index, 'escalate_after'],
        message: `is ${formatDuration(read.escalation.afterMs)}, but an unanswered request expires after ${formatDuration(top.data.request_ttl)} (request_ttl): it would never escalate. Make it shorter than request_ttl`,
      });
    asking.set(index, {
      ...(read.ticket ? { ticket: read.ticket } : {}),
      ...(read.escalation ? { escalation: read.escalation } : {}),
      ...(read.onCall ? { onCall: read.onCall } : {}),
    });
  });
  if (groups !== undefined && alertsResult.success) findings.push(...checkAlertGroups(alertsResult.data, groups));
  if (groups !== undefined && contractsResult.success) findings.push(...checkContracts(contractsResult.data, groups));
  if (groups !== undefined)
    for (const [index, block] of resourceBreakGlass) {
      const resource = resources.get(index);
      if (resource)
        findings.push(
          ...checkBreakGlass(block, { ...resource, owners: expand(resource.owners, groups) }, groups, (...rest) => [
            'resources',
            index,
            ...rest,
          ]),
        );
    }

  if (!top.success || groups === undefined || findings.length > 0) {
    const problems = findings.map(({ path, message }) => ({
      path: formatPath(path),
      line: lineAt(doc, lines, path),
      message,
    }));
    // Report in file order, like a compiler, so the operator can fix from the top down.
    problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
    throw new PolicyError(file, problems);
  }
  const alerts = toAlertPolicy(alertsResult.success ? alertsResult.data : undefined, (entries) =>
    expand(entries, groups),
  );
  return {
    auditChannel: top.data.audit_channel,
    requestTtlMs: top.data.request_ttl,
    remindAfterMs: top.data.remind_after ?? null,
    checkpointEveryEvents: top.data.checkpoint_every_events,
    checkpointEveryMs: top.data.checkpoint_every,
    groups,
    mfaAdmins: expand(mfaAdmins, groups),
    alerts,
    contracts: toContracts(contractsResult.success ? contractsResult.data : undefined, groups),
    reviews,
    requesterEntries: new Map([...resources.values()].map((resource) => [resource.id, resource.requesters])),
    resources: [...resources.entries()].map(([index, resource]) =>
      Object.assign(
        toResource(resource, resourceAlerts.get(index), groups, resourceBreakGlass.get(index), alerts.security),
        asking.get(index),
      ),
    ),
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

/** Reads, hashes and validates the policy file, as parsePolicyWith. Throws PolicyError. */
export async function loadPolicyFileWith(file: string, kinds: readonly ProvisionerSchema[]): Promise<LoadedPolicy> {
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
  return { policy: parsePolicyWith(text, file, kinds), path, sha256 };
}

export function resourceById(policy: Policy, id: string): ResourcePolicy | undefined {
  return policy.resources.find((resource) => resource.id === id);
}
