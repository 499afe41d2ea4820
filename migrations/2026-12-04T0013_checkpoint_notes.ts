import { sql, type Kysely } from 'kysely';

/**
 * Checkpoints in the C2SP signed-note form, and witnesses' cosignatures of them (issue 16;
 * docs/merkle.md §11 and §12).
 *
 * `audit_checkpoints.note` holds, for each checkpoint made from now on, the signed note of
 * the Merkle tree at its seq (origin, size, root, signature line) exactly as signed. Older
 * checkpoints keep null: they stay valid as they were, and are not signed again after the
 * fact (a note made today would vouch today for a past head, which is not what they said).
 *
 * `audit_cosignatures` holds each witness's cosignature line over a checkpoint's note,
 * append-only like the checkpoints. A witness needs INSERT on this table and nothing more
 * to write (sql/least-privilege.sql, gatehouse_witness). `checkpoint_id` is not a foreign key
 * on purpose: a cosignature outlives a checkpoint row someone deletes, and is the evidence
 * that it existed: `body` is the checkpoint body the witness signed (origin, size, root), so
 * a cosignature with its body is a whole statement without the checkpoint.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_checkpoints add column note text`.execute(db);
  await sql`
    create table audit_cosignatures (
      id            bigint generated always as identity primary key,
      checkpoint_id bigint      not null,
      witness       text        not null check (witness <> '' and witness !~ '[[:space:]+]'),
      key_id        text        not null check (key_id ~ '^[0-9a-f]{8}$'),
      time          timestamptz not null,
      body          text        not null,
      line          text        not null,
      recorded_at   timestamptz not null default now(),
      constraint audit_cosignatures_once unique (checkpoint_id, witness, key_id)
    )
  `.execute(db);
  await sql`
    create function audit_cosignatures_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_cosignatures is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'A cosignature is a witness''s statement; it is never changed or removed.';
    end
    $$
  `.execute(db);
  await sql`
    create trigger audit_cosignatures_no_update_delete before update or delete on audit_cosignatures
    for each row execute function audit_cosignatures_refuse_change()
  `.execute(db);
  await sql`
    create trigger audit_cosignatures_no_truncate before truncate on audit_cosignatures
    for each statement execute function audit_cosignatures_refuse_change()
  `.execute(db);
  await sql`alter table audit_cosignatures enable always trigger audit_cosignatures_no_update_delete`.execute(db);
  await sql`alter table audit_cosignatures enable always trigger audit_cosignatures_no_truncate`.execute(db);
}

/** Undoes the schema, as 0012 does: for a database being taken back to an older release. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table audit_cosignatures`.execute(db);
  await sql`drop function audit_cosignatures_refuse_change()`.execute(db);
  await sql`alter table audit_checkpoints drop column note`.execute(db);
}
