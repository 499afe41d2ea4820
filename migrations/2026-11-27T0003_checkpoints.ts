import { sql, type Kysely } from 'kysely';

/**
 * Signed checkpoints of the audit log's head (docs/audit-log.md, section 12), append-only
 * like audit_events. `message` is the exact text that was signed, so an auditor with psql
 * can check a signature without Gatehouse; the other columns are its fields, for queries,
 * and verification requires the two to agree.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_checkpoints (
      id                 bigint generated always as identity primary key,
      log_id             text        not null,
      seq                bigint      not null check (seq > 0),
      hash               bytea       not null check (octet_length(hash) = 32),
      time               timestamptz not null,
      key_id             text        not null,
      signature          bytea       not null check (octet_length(signature) = 64),
      previous_signature bytea                check (octet_length(previous_signature) = 64),
      message            text        not null,
      constraint audit_checkpoints_signature_key unique (signature),
      -- One successor per checkpoint: two signers racing cannot fork the checkpoint chain.
      constraint audit_checkpoints_previous_key unique (previous_signature)
    )
  `.execute(db);
  // ...and only one first checkpoint (a unique constraint lets NULLs repeat).
  await sql`create unique index audit_checkpoints_one_first on audit_checkpoints ((true)) where previous_signature is null`.execute(
    db,
  );

  await sql`
    create function audit_checkpoints_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_checkpoints is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'Checkpoints are never changed or removed; make a new one instead.';
    end
    $$
  `.execute(db);
  await sql`
    create trigger audit_checkpoints_no_update_delete before update or delete on audit_checkpoints
    for each row execute function audit_checkpoints_refuse_change()
  `.execute(db);
  await sql`
    create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
    for each statement execute function audit_checkpoints_refuse_change()
  `.execute(db);
  await sql`alter table audit_checkpoints enable always trigger audit_checkpoints_no_update_delete`.execute(db);
  await sql`alter table audit_checkpoints enable always trigger audit_checkpoints_no_truncate`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('Audit checkpoints are never rolled back: they vouch for the log.');
}
