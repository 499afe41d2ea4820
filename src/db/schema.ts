import type { ColumnType, Generated, GeneratedAlways } from 'kysely';

/**
 * One row per audit event, append-only. `canonical` holds the exact bytes that were
 * hashed; every other column but the hashes is generated from it by the database, so the
 * queryable copy can never disagree with the hashed record.
 */
export interface AuditEventTable {
  canonical: string;
  prev_hash: Buffer;
  hash: Buffer;
  seq: GeneratedAlways<number>;
  occurred_at: GeneratedAlways<Date>;
  actor: GeneratedAlways<string>;
  action: GeneratedAlways<string>;
  subject: GeneratedAlways<string | null>;
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
  audit_queue: AuditQueueTable;
  gatehouse_meta: MetaTable;
  policy_state: PolicyStateTable;
}
