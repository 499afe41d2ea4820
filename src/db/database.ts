import { Kysely, PostgresDialect } from 'kysely';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { describeDatabaseUrl } from '../log.ts';
import { EmbeddedCluster } from './embedded.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/** bigint columns (seq, ids) come back as numbers; a value past 2^53 is an error, not a silent rounding. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`bigint ${text} does not fit in a JavaScript number`);
  return value;
}

/** bigint[] (an alert's evidence seqs) likewise. */
function parseInt8Array(text: string): number[] {
  return (
    pg.types.getTypeParser(INT8_ARRAY_OID as Parameters<typeof pg.types.getTypeParser>[0], 'text')(text) as string[]
  ).map(parseInt8);
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    format === 'binary'
      ? pg.types.getTypeParser(oid, format)
      : oid === INT8_OID
        ? parseInt8
        : oid === INT8_ARRAY_OID
          ? parseInt8Array
          : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export interface DatabaseHandle {
  db: Db;
  pool: pg.Pool;
  /** The connection string in use (it holds a password: never log it; see describeDatabaseUrl). */
  url: string;
  /** The embedded cluster, when this handle started or attached to one. */
  cluster: EmbeddedCluster | null;
  close(): Promise<void>;
}

export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, types, application_name: 'gatehouse' });
  // A connection that breaks while checked out (mid-transaction, say) emits `error` where
  // the pool no longer listens, and an unhandled `error` ends the process. The query in
  // flight, or the next one, fails with it instead, and the pool drops the connection.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export interface OpenDatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  log: Logger;
  poolSize?: number;
  /**
   * False: attach only to an embedded cluster that already exists under `dataDir`, never
   * create one (the CLI's commands that read the log). Default true.
   */
  createCluster?: boolean;
}

/**
 * Connects to DATABASE_URL when set; otherwise starts (or attaches to) the embedded
 * PostgreSQL under `dataDir` (or, with `createCluster: false`, only to one already there). `close()` ends the pool and stops a cluster this process started.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  let cluster: EmbeddedCluster | null = null;
  let url = options.databaseUrl;
  if (!url) {
    if (options.createCluster === false) {
      cluster = await EmbeddedCluster.openExisting({ dataDir: options.dataDir, log: options.log });
      if (!cluster) {
        throw new Error(
          `There is no embedded PostgreSQL in ${path.resolve(options.dataDir)} (nothing was created there). Set GATEHOUSE_DATA_DIR to the directory Gatehouse keeps its data in, or DATABASE_URL.`,
        );
      }
    } else {
      cluster = await EmbeddedCluster.open({ dataDir: options.dataDir, log: options.log });
    }
    url = cluster.url();
  }
  const pool = createPool(url, options.poolSize);
  pool.on('error', (err) => options.log.warn({ err }, 'idle database connection failed'));
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end();
    await cluster?.stop();
    throw new Error(
      `Cannot connect to PostgreSQL at ${describeDatabaseUrl(url)}: ${(err as Error).message}. Check DATABASE_URL, or unset it to use the embedded database.`,
    );
  }
  const db = createDb(pool);
  return {
    db,
    pool,
    url,
    cluster,
    async close() {
      await db.destroy();
      await cluster?.stop();
    },
  };
}
