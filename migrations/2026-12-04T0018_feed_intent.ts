import { sql, type Kysely } from 'kysely';

/**
 * The audit feed's pending post (chaos finding 1 of issue 17; docs/audit-log.md §12.5.1).
 *
 * Before the feed posts seqs `pending_first_seq`…`pending_last_seq` to the audit channel it
 * commits this intent on the `audit_channel_state` row: a random `pending_id` (carried in the
 * message's metadata as `post_id`), the channel, the replica that took it and when. The
 * transaction that records the post clears it, on condition that it is still the same id.
 * An intent found still pending (the commit after the post was lost: a database restart, a
 * dropped connection, a killed replica) is resolved by reading the channel back instead of
 * posting again. The five columns are all set or all null.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table audit_channel_state
      add column pending_id uuid,
      add column pending_first_seq bigint,
      add column pending_last_seq bigint,
      add column pending_channel text,
      add column pending_replica text,
      add column pending_at timestamptz,
      add constraint audit_channel_state_pending_whole check (
        (pending_id is null) = (pending_first_seq is null)
        and (pending_id is null) = (pending_last_seq is null)
        and (pending_id is null) = (pending_channel is null)
        and (pending_id is null) = (pending_replica is null)
        and (pending_id is null) = (pending_at is null)
        and (pending_first_seq is null or pending_first_seq <= pending_last_seq)
      )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table audit_channel_state
      drop constraint audit_channel_state_pending_whole,
      drop column pending_at,
      drop column pending_replica,
      drop column pending_channel,
      drop column pending_last_seq,
      drop column pending_first_seq,
      drop column pending_id`.execute(db);
}
