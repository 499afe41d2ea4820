import { access, chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import { silentLogger } from '../src/log.ts';

// One data directory for the whole file: initdb runs once, in the first story, and the
// later stories reopen the same cluster, as successive `npm start`s do.
let dataDir: string;
const opened: EmbeddedCluster[] = [];

async function open(): Promise<EmbeddedCluster> {
  const cluster = await EmbeddedCluster.open({ dataDir, log: silentLogger() });
  opened.push(cluster);
  return cluster;
}

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

const pidFile = () => join(dataDir, 'pg', 'postmaster.pid');

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-embedded-'));
  // As root the server runs as the unprivileged `postgres` user, which must reach the directory.
  await chmod(dataDir, 0o755);
});

afterAll(async () => {
  for (const cluster of opened) await cluster.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the embedded PostgreSQL', () => {
  it('keeps its data across a stop and a restart', async () => {
    const first = await open();
    expect(first.owned).toBe(true);
    await query(first.url(), `create table notes (body text not null); insert into notes values ('kept')`);
    await first.stop();
    expect(await exists(pidFile())).toBe(false);

    const second = await open();
    expect(second.owned).toBe(true);
    expect(await query(second.url(), 'select body from notes')).toEqual([{ body: 'kept' }]);
    await second.stop();
    expect(await exists(pidFile())).toBe(false);
  });

  it('lets a second process attach to the running server, and leaves the server to its owner', async () => {
    const owner = await open();
    const attached = await open();
    expect(attached.owned).toBe(false);
    expect(attached.port).toBe(owner.port);
    expect(attached.url()).toBe(owner.url());

    await attached.stop();
    expect(await query(owner.url(), 'select count(*)::int as n from notes')).toEqual([{ n: 1 }]);
    expect(await exists(pidFile())).toBe(true);

    await owner.stop();
    expect(await exists(pidFile())).toBe(false);
  });
});

describe('openDatabase with no DATABASE_URL', () => {
  it('runs on the embedded cluster, and close() stops it', async () => {
    const handle = await openDatabase({ databaseUrl: undefined, dataDir, log: silentLogger() });
    expect(handle.cluster?.owned).toBe(true);

    const { rows } = await sql<{ body: string }>`select body from notes`.execute(handle.db);
    expect(rows).toEqual([{ body: 'kept' }]);

    await handle.close();
    expect(await exists(pidFile())).toBe(false);
  });
});
