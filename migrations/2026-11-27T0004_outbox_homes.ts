import { sql, type Kysely } from 'kysely';

/**
 * The queued App Home refreshes of one person, found at once: one publish covers them all,
 * however many changes touched that person's home while the notifier was behind.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index outbox_home_refresh on outbox ((payload ->> 'userId'), id) where kind = 'home.refresh' and done_at is null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index outbox_home_refresh`.execute(db);
}
