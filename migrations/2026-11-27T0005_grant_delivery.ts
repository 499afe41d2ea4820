import { sql, type Kysely } from 'kysely';

/**
 * Credentials a provisioner made for a grant (a database login), sealed with
 * GATEHOUSE_SECRETS_KEY, kept only until the holder's direct message is sent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table grants add column delivery_secret bytea`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table grants drop column delivery_secret`.execute(db);
}
