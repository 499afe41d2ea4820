/**
 * The chaos suite's PostgreSQL: Debian's PostgreSQL 15 in a temporary directory, made by
 * EmbeddedCluster (which, as root, runs it as the unprivileged `postgres` user), then run
 * with `pg_ctl` on a port of its own so that it can be restarted the way a managed
 * database fails over: `pg_ctl restart -m immediate` (a crash, recovery on start) or fast.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import { silentLogger } from '../src/log.ts';
import { freePort } from '../test/support/process.ts';

const run = promisify(execFile);

export const PG_BIN = process.env.CHAOS_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface ChaosPostgres {
  /** Connection string of `database` as the cluster's superuser. */
  url(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** `pg_ctl restart -m <mode>`: resolves once the server accepts connections again. */
  restart(mode: 'immediate' | 'fast'): Promise<void>;
  version(): Promise<string>;
  stop(): Promise<void>;
}

async function owner(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

export async function startChaosPostgres(): Promise<ChaosPostgres> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-chaos-pg-'));
  await fs.chmod(dataDir, 0o755);
  // initdb, credentials and the unprivileged user, as the tests' clusters get them; then stopped.
  const first = await EmbeddedCluster.open({ dataDir, log: silentLogger(), binDir: PG_BIN, database: 'postgres' });
  const adminUrl = new URL(first.url('postgres'));
  await first.stop();
  const port = await freePort();
  adminUrl.port = String(port);
  const pgDir = path.join(dataDir, 'pg');
  // Inside the cluster's directory, which the server's user owns.
  const logFile = path.join(pgDir, 'server.log');
  const as = await owner();
  const pgCtl = (args: string[]) =>
    run(path.join(PG_BIN, 'pg_ctl'), ['-D', pgDir, ...args], {
      ...(as ?? {}),
      env: { ...process.env, LC_ALL: 'C' },
      timeout: 120_000,
    });
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    '-c unix_socket_directories=',
    // Three replicas' pools, the checks and the provisioner's admin connections.
    '-c max_connections=200',
  ].join(' ');
  await pgCtl(['-o', options, '-l', logFile, '-w', 'start']);
  const url = (database: string) => {
    const u = new URL(adminUrl);
    u.pathname = `/${database}`;
    return u.toString();
  };
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: url('postgres') });
    await client.connect();
    try {
      return await client.query<Record<string, string>>(sql);
    } finally {
      await client.end();
    }
  };
  return {
    url,
    async createDatabase(name) {
      await query(`create database ${name}`);
    },
    async restart(mode) {
      // -l again: without it the restarted server writes to pg_ctl's stdout, and holds it open.
      await pgCtl(['-m', mode, '-l', logFile, '-w', 'restart']);
    },
    async version() {
      const { rows } = await query(`select version() as v, current_setting('fsync') as fsync`);
      return `${rows[0]?.v?.split(',')[0] ?? '?'} (pg_ctl, TCP loopback, fsync=${rows[0]?.fsync ?? '?'})`;
    },
    async stop() {
      await pgCtl(['-m', 'immediate', 'stop']).catch(() => undefined);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
