import { sql, type Kysely } from 'kysely';

/**
 * Every replica keeps a timer for the earliest grant end. A statement that adds grants or
 * moves an end tells them all at commit (NOTIFY is transactional), whichever process or
 * path ran it, so each re-arms its timer; the sweep stays as the backstop.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function gatehouse_grant_ends_changed() returns trigger language plpgsql as $$
    begin
      perform pg_notify('gatehouse_grant_ends', '');
      return null;
    end $$`.execute(db);
  await sql`
    create trigger grants_ends_changed after insert or update of ends_at on grants
    for each statement execute function gatehouse_grant_ends_changed()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger grants_ends_changed on grants`.execute(db);
  await sql`drop function gatehouse_grant_ends_changed()`.execute(db);
}
