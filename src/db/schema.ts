import type { ColumnType, Generated } from 'kysely';
import type { GrantId, RequestId, SlackUserId } from './ids.ts';

/**
 * One row per audit event, append-only. `canonical` holds the exact bytes that were hashed
 * and is the only copy of the event's fields; read them through the `audit_log` view.
 */
export interface AuditEventTable {
  seq: number;
  canonical: string;
  prev_hash: Buffer;
  hash: Buffer;
}

/**
 * The RFC 6962 Merkle tree over the audit events (docs/merkle.md): the hash of each complete
 * subtree of 64 leaves and up, written by the sequencer in the batch that completes it.
 * Append-only. Node (level, index) covers the events of seq index·2^level + 1 … (index+1)·2^level.
 */
export interface AuditTreeTable {
  level: number;
  index: number;
  hash: Buffer;
}

/** The `audit_log` view: the fields of each event, parsed from its canonical text. */
export interface AuditLogView {
  seq: number;
  occurred_at: Date;
  actor: string;
  action: string;
  subject: string | null;
  body: Record<string, unknown>;
  /** Hex. */
  hash: string;
}

/**
 * Events written by a state change, in the same transaction, waiting for the sequencer
 * to give them their place in the chain. See src/audit/sequencer.ts.
 */
export interface AuditQueueTable {
  id: Generated<number>;
  occurred_at: ColumnType<Date, never, never>;
  actor: string;
  action: string;
  subject: string | null;
  /** The event body in canonical JSON (RFC 8785). */
  body: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface PolicyStateTable {
  id: Generated<boolean>;
  sha256: string;
  path: string;
  loaded_at: ColumnType<Date, never, never>;
}

/**
 * The states of a request and of a grant, and why a grant ended: written once, here with
 * the tables that hold them (src/access/types.ts gives them to the rest of Gatehouse).
 * The lists are the columns' check constraints too: test/statuses.test.ts holds them equal.
 */
export const REQUEST_STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled'] as const;
/** `pending` until enough owners approve, one denies, it expires or its requester withdraws it; only `pending` moves. */
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const GRANT_STATUSES = [
  'provisioning',
  'active',
  'revoking',
  'ended',
  'provision_failed',
  'revoke_failed',
] as const;
/** `provisioning` → `active` → `revoking` → `ended`, with `provision_failed` / `revoke_failed` while retries go on. */
export type GrantStatus = (typeof GRANT_STATUSES)[number];

export const GRANT_END_REASONS = ['expired', 'released', 'revoked'] as const;
/** Why a grant ended: its time ran out, its holder gave it back, or someone took it away. */
export type GrantEndReason = (typeof GRANT_END_REASONS)[number];

export interface AccessRequestTable {
  id: RequestId;
  requester: SlackUserId;
  resource_id: string;
  duration_ms: number;
  reason: string;
  status: Generated<RequestStatus>;
  approvals_required: number;
  created_at: Generated<Date>;
  expires_at: Date;
  decided_at: Date | null;
  /** A person, or `system` (expiry). */
  decided_by: string | null;
  deny_reason: string | null;
  extends_grant_id: GrantId | null;
  policy_sha256: string;
  reminders_sent: Generated<number>;
  next_reminder_at: Date | null;
  mfa_checked: Generated<boolean>;
  /** Granted at once without approval, to be ratified (break_glass). */
  break_glass: Generated<boolean>;
  /** Set when the request was shortened to end with the requester's contract. */
  contract_ends_at: Generated<Date | null>;
  /** The ticket reference the resource's `ticket:` rule required (docs/asking.md). */
  ticket: Generated<string | null>;
  /** When a still-pending request goes to `escalate_to` as well; null: never. */
  escalate_at: Generated<Date | null>;
  escalate_to: Generated<string | null>;
  /** Set once, by the escalation sweep. */
  escalated_at: Generated<Date | null>;
}

export interface ApprovalTable {
  request_id: RequestId;
  approver: SlackUserId;
  created_at: Generated<Date>;
  mfa_checked: Generated<boolean>;
}

export interface GrantTable {
  id: GrantId;
  request_id: RequestId;
  user_id: SlackUserId;
  resource_id: string;
  status: GrantStatus;
  starts_at: Date;
  ends_at: Date;
  ended_at: Date | null;
  end_reason: GrantEndReason | null;
  attempts: Generated<number>;
  next_attempt_at: Date | null;
  last_error: string | null;
  warned_at: Date | null;
  /** Credentials for the holder, sealed (SecretBox), until their direct message is sent. */
  delivery_secret: Buffer | null;
  /** The end the target was last told; behind `ends_at` while an approved extension is being applied. */
  target_ends_at: Generated<Date | null>;
}

export interface ApprovalCardTable {
  request_id: RequestId;
  channel: string;
  ts: string;
  owner: SlackUserId | null;
}

/** What a direct message to a requester or holder shows (migration 2026-12-03T0011). */
export const PERSON_MESSAGE_KINDS = ['request', 'approved', 'grant', 'credentials', 'expiring', 'failing'] as const;
export type PersonMessageKind = (typeof PERSON_MESSAGE_KINDS)[number];

/** A direct message that shows a request's or grant's state, set to the current state on each change. */
export interface PersonMessageTable {
  channel: string;
  ts: string;
  user_id: SlackUserId;
  kind: PersonMessageKind;
  request_id: RequestId | null;
  grant_id: GrantId | null;
  created_at: Generated<Date>;
}

export interface OutboxTable {
  id: Generated<number>;
  kind: string;
  payload: Record<string, unknown>;
  created_at: Generated<Date>;
  attempts: Generated<number>;
  next_attempt_at: Generated<Date>;
  last_error: string | null;
  done_at: Date | null;
}

export interface AuditChannelStateTable {
  id: Generated<boolean>;
  posted_seq: number;
  updated_at: Generated<Date>;
  /**
   * The feed's post under way, committed before it is made and cleared when it is recorded
   * (all set or all null): its id (in the message's metadata as `post_id`), the seqs it shows,
   * where, which replica took it and when. See src/slack/outbound/audit-feed.ts.
   */
  pending_id: string | null;
  pending_first_seq: number | null;
  pending_last_seq: number | null;
  pending_channel: string | null;
  pending_replica: string | null;
  pending_at: Date | null;
}

/**
 * Signed checkpoints of the audit log's head, append-only. `message` is the exact signed
 * text; the other columns are its fields. See src/audit/checkpoints/checkpoint.ts.
 */
export interface AuditCheckpointTable {
  id: Generated<number>;
  log_id: string;
  seq: number;
  hash: Buffer;
  time: ColumnType<Date, string, never>;
  key_id: string;
  signature: Buffer;
  previous_signature: Buffer | null;
  message: string;
  /** The signed note of the tree at `seq` (migration 0013); null for older checkpoints. */
  note: string | null;
}

/** A witness's cosignature of a checkpoint's note, append-only. See migration 0013. */
export interface AuditCosignatureTable {
  id: Generated<number>;
  checkpoint_id: number;
  witness: string;
  key_id: string;
  time: ColumnType<Date, string, never>;
  body: string;
  line: string;
  recorded_at: Generated<Date>;
}

/** A person's TOTP secrets, sealed (SecretBox, context `mfa:<user_id>`). See migration 0006. */
export interface MfaEnrolmentTable {
  user_id: SlackUserId;
  secret: Buffer | null;
  pending_secret: Buffer | null;
  enrolled_at: Date | null;
  pending_since: Date | null;
  /** The last TOTP time step a code was accepted for. */
  last_step: number | null;
  enrolment_channel: string | null;
  enrolment_ts: string | null;
  enrolment_file: string | null;
}

export interface MfaGuardTable {
  user_id: SlackUserId;
  failures: ColumnType<Date[], Date[] | undefined, Date[]>;
  locked_until: Date | null;
}

/** The SCRAM-SHA-256 verifier of a gateway login's password (never the password). See migration 0009. */
export interface GatewayLoginTable {
  grant_id: GrantId;
  username: string;
  salt: string;
  iterations: number;
  stored_key: string;
  server_key: string;
  created_at: Generated<Date>;
}

/** Why a gateway session ended; docs/audit-log.md lists them with `gateway.session_ended`. */
export const GATEWAY_END_REASONS = [
  'client_closed',
  'grant_ended',
  'ended_by_owner',
  'upstream_closed',
  'setting_changed',
  'gateway_stopped',
  'replica_lost',
] as const;
export type GatewayEndReason = (typeof GATEWAY_END_REASONS)[number];

/** One session a gateway replica holds, or held. See migration 0009. */
export interface GatewaySessionTable {
  id: string;
  grant_id: GrantId;
  user_id: SlackUserId;
  resource_id: string;
  replica: string;
  client_address: string | null;
  application_name: string | null;
  started_at: Generated<Date>;
  seen_at: Generated<Date>;
  ended_at: Date | null;
  end_reason: GatewayEndReason | null;
  end_requested_at: Date | null;
  end_requested_by: SlackUserId | null;
  statements: Generated<number>;
  rows: ColumnType<string, string | number | undefined, string | number>;
  refused: Generated<number>;
  cancel_pid: number;
  cancel_secret: number;
  upstream_pid: number | null;
  upstream_secret: number | null;
}

/** How much an alert matters: info is a note for later, critical cannot happen by design. */
export const ALERT_SEVERITIES = ['info', 'warning', 'high', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
/**
 * What End access now ends: the alert's grant, the live grants of the person it is about
 * (on its resource, if it names one), or nothing (an alert about an approver, or access
 * already on its way out).
 */
export const ALERT_ENDS = ['grant', 'person', 'none'] as const;
export type AlertEnds = (typeof ALERT_ENDS)[number];

/** The watcher's cursor on the chain (migration 2026-12-03T0010). */
export interface WatchStateTable {
  id: Generated<boolean>;
  cursor_seq: ColumnType<number, number, number>;
  updated_at: Generated<Date>;
}

/** One row per incident; the alert itself is its `alert.raised` audit event. */
export interface AlertTable {
  id: string;
  incident_key: string;
  detector: string;
  severity: AlertSeverity;
  subject: string;
  /** Plain text: detectors read them from events, and a drifted grant may be unknown here. */
  user_id: string | null;
  resource_id: string | null;
  grant_id: string | null;
  session_id: string | null;
  title: string;
  detail: string;
  evidence: ColumnType<number[], number[], number[]>;
  ends: AlertEnds;
  raised_at: Generated<Date>;
  acknowledged_by: SlackUserId | null;
  acknowledged_at: Date | null;
  access_ended_by: SlackUserId | null;
  access_ended_at: Date | null;
}

export const BREAK_GLASS_STATUSES = ['pending', 'ratified', 'unratified', 'revoked'] as const;
/** `pending` until a quorum of owners ratifies it, an owner revokes it, or the sweep revokes it unratified. */
export type BreakGlassStatus = (typeof BREAK_GLASS_STATUSES)[number];

export interface BreakGlassTable {
  grant_id: GrantId;
  request_id: RequestId;
  user_id: SlackUserId;
  resource_id: string;
  reason: string;
  quorum: number;
  ratify_by: Date;
  status: Generated<BreakGlassStatus>;
  created_at: Date;
  settled_at: Date | null;
  /** The owner who ratified last or revoked it, or `system` (unratified). */
  settled_by: string | null;
}

export interface BreakGlassRatificationTable {
  grant_id: GrantId;
  owner: SlackUserId;
  created_at: Generated<Date>;
}

export interface BreakGlassMessageTable {
  grant_id: GrantId;
  channel: string;
  ts: string;
}

export interface ContractNoticeTable {
  user_id: SlackUserId;
  ends_at: Date;
  noticed_at: Generated<Date>;
}

export type ReviewDecision = 'keep' | 'remove';

/** One review of one resource for one scheduled time (src/access/reviews.ts). */
export interface AccessReviewTable {
  id: string;
  resource_id: string;
  due_at: Date;
  period_start: Date;
  period_end: Date;
  owners: SlackUserId[];
  status: Generated<'open' | 'completed'>;
  opened_at: Date;
  reminded_at: Date | null;
  completed_at: Date | null;
}

export interface AccessReviewItemTable {
  review_id: string;
  user_id: SlackUserId;
  /** The policy entries that let the person request it: their id, or group names. */
  via: string[];
  grants: number;
  // bigint: read back as a string.
  total_ms: ColumnType<string, number, number>;
  last_grant_at: Date | null;
  decision: ReviewDecision | null;
  decided_by: SlackUserId | null;
  decided_at: Date | null;
  change_applied_at: Date | null;
}

export interface AccessReviewMessageTable {
  review_id: string;
  owner: SlackUserId;
  page: number;
  channel: string;
  ts: string;
}

export interface AlertMessageTable {
  alert_id: string;
  channel: string;
  ts: string;
}

/** Where the audit feed posted each range of seqs: an alert links to its evidence there. */
export interface AuditChannelPostTable {
  first_seq: number;
  last_seq: number;
  channel: string;
  ts: string;
}

export interface Database {
  audit_events: AuditEventTable;
  audit_log: AuditLogView;
  audit_queue: AuditQueueTable;
  audit_tree: AuditTreeTable;
  gatehouse_meta: MetaTable;
  policy_state: PolicyStateTable;
  access_requests: AccessRequestTable;
  approvals: ApprovalTable;
  grants: GrantTable;
  approval_cards: ApprovalCardTable;
  person_messages: PersonMessageTable;
  outbox: OutboxTable;
  audit_channel_state: AuditChannelStateTable;
  audit_checkpoints: AuditCheckpointTable;
  audit_cosignatures: AuditCosignatureTable;
  mfa_enrolments: MfaEnrolmentTable;
  mfa_guards: MfaGuardTable;
  gateway_logins: GatewayLoginTable;
  gateway_sessions: GatewaySessionTable;
  watch_state: WatchStateTable;
  alerts: AlertTable;
  alert_messages: AlertMessageTable;
  audit_channel_posts: AuditChannelPostTable;
  break_glass: BreakGlassTable;
  break_glass_ratifications: BreakGlassRatificationTable;
  break_glass_messages: BreakGlassMessageTable;
  contract_notices: ContractNoticeTable;
  access_reviews: AccessReviewTable;
  access_review_items: AccessReviewItemTable;
  access_review_messages: AccessReviewMessageTable;
}
