// Runs a SQL file on DATABASE_URL, as one simple-protocol query (so no psql is needed in
// the image): `node deploy/run-sql.mjs sql/least-privilege.sql`.
import { readFile } from 'node:fs/promises';
import pg from 'pg';

const [file] = process.argv.slice(2);
if (!file || !process.env.DATABASE_URL) {
  process.stderr.write('usage: DATABASE_URL=postgres://… node deploy/run-sql.mjs FILE.sql\n');
  process.exit(2);
}
const client = new pg.Client({ connectionString: process.env.DATABASE_URL, application_name: 'gatehouse-migrate' });
await client.connect();
try {
  await client.query(await readFile(file, 'utf8'));
  process.stdout.write(`${file} applied\n`);
} catch (err) {
  process.stderr.write(`${file} failed: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  await client.end();
}
