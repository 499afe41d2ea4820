import { sql, type Kysely } from 'kysely';

/**
 * Streaming the audit log to a SIEM (docs/siem.md).
 *
 * `siem_cursor` is one row per destination (`otlp`, `syslog`): the seq of the last event
 * that destination accepted. The row is locked (SKIP LOCKED) for the length of one batch,
 * so with several replicas one streams to a destination at a time, and it moves only after
 * the receiver accepted the batch, in the transaction that read it: events go once each,
 * in order, and a restart resumes after the last accepted seq. Rows are added by the
 * streamer when a destination is first configured, at 0: a new SIEM receives the whole log.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table siem_cursor (
      destination text primary key check (destination in ('otlp', 'syslog')),
      delivered_seq bigint not null check (delivered_seq >= 0),
      updated_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table siem_cursor`.execute(db);
}
