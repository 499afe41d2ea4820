import type { ColumnType, Generated } from 'kysely';

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

export interface Database {
  audit_events: AuditEventTable;
  audit_log: AuditLogView;
  audit_queue: AuditQueueTable;
  gatehouse_meta: MetaTable;
  policy_state: PolicyStateTable;
}
