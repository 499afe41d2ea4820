/**
 * The `postgres` target of the expiry benchmark: a database on the bench cluster with a
 * table a read-only role may read, provisioned by the least-privilege admin that
 * docs/provisioners.md "Set up once" asks for (CREATEROLE and admin of the read-only role,
 * no superuser), and sessions held open by real pg clients with the credentials the app
 * made, so a grant's end has a live session to cut.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Grant } from '../src/access/types.ts';
import { closePostgresTargets, postgresProvisioner } from '../src/provisioners/postgres.ts';
import type { BenchServer } from './cluster.ts';
import { summarize, type Summary } from './percentiles.ts';

const TARGET_DB = 'gatehouse_bench_expiry_target';
/** Cluster-wide names, the bench's own. Not `gatehouse_…`: that prefix is the grants' logins. */
export const EXPIRY_READONLY_ROLE = 'bench_expiry_readonly';
const ADMIN_ROLE = 'bench_expiry_admin';
const ROWS = 100;
/**
 * Connections left free besides those open when the sessions are planned: the app's two
 * pools can grow to 10 each, the provisioner's target pools to 4 in each thread, and the
 * superuser keeps 3 (superuser_reserved_connections).
 */
const CONNECTION_MARGIN = 30;

export interface Credentials {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
}

/** The provisioner's revoke timed alone, ms. */
export interface RevokeAlone {
  withSession: Summary;
  withoutSession: Summary;
  /** One `alter role` on the catalogs, committed: what each step of a revoke costs at least. */
  commit: Summary;
}

export class ExpiryTarget {
  /** Login roles the bench made itself (timeRevokes), dropped at the end if anything is left. */
  private readonly made: string[] = [];

  private constructor(
    private readonly server: BenchServer,
    /** The bench cluster's superuser on the target: setup, checks and cleanup only. */
    private readonly superuser: pg.Pool,
    /** What the app is given: the least-privilege admin. */
    readonly adminUrl: string,
  ) {}

  static async start(server: BenchServer): Promise<ExpiryTarget> {
    const superUrl = await server.freshDatabase(TARGET_DB);
    const superuser = new pg.Pool({
      connectionString: superUrl,
      max: 2,
      application_name: 'gatehouse-bench-expiry-setup',
    });
    superuser.on('error', () => undefined);
    const password = randomBytes(18).toString('base64url');
    try {
      await superuser.query(`drop role if exists ${ADMIN_ROLE}`);
      await superuser.query(`drop role if exists ${EXPIRY_READONLY_ROLE}`);
      // docs/provisioners.md, "Set up once in the target database".
      await superuser.query(`create role ${EXPIRY_READONLY_ROLE} nologin`);
      await superuser.query('create table bench_rows (id int primary key, note text)');
      await superuser.query(`insert into bench_rows select g, 'row ' || g from generate_series(1, ${ROWS}) g`);
      await superuser.query(`grant select on all tables in schema public to ${EXPIRY_READONLY_ROLE}`);
      await superuser.query(`create role ${ADMIN_ROLE} login createrole password ${pg.escapeLiteral(password)}`);
      await superuser.query(`grant ${EXPIRY_READONLY_ROLE} to ${ADMIN_ROLE} with admin option`);
    } catch (err) {
      await superuser.end().catch(() => undefined);
      throw err;
    }
    const adminUrl = new URL(superUrl);
    adminUrl.username = ADMIN_ROLE;
    adminUrl.password = password;
    return new ExpiryTarget(server, superuser, adminUrl.toString());
  }

  /** Sessions the cluster can hold besides everything else, at most `wanted`. */
  async sessionRoom(wanted: number): Promise<{ sessions: number; maxConnections: number; inUse: number }> {
    const { rows } = await this.superuser.query<{ max: number; used: number }>(
      `select current_setting('max_connections')::int as max, (select count(*)::int from pg_stat_activity) as used`,
    );
    const maxConnections = rows[0]!.max;
    const inUse = rows[0]!.used;
    return {
      sessions: Math.max(0, Math.min(wanted, maxConnections - inUse - CONNECTION_MARGIN)),
      maxConnections,
      inUse,
    };
  }

  /** Of these login roles, how many still exist, and their open sessions. */
  async left(roles: string[]): Promise<{ roles: number; sessions: number }> {
    const { rows } = await this.superuser.query<{ roles: number; sessions: number }>(
      `select (select count(*)::int from pg_roles where rolname = any($1)) as roles,
              (select count(*)::int from pg_stat_activity where usename = any($1)) as sessions`,
      [roles],
    );
    return rows[0]!;
  }

  /**
   * The provisioner's own revoke, timed alone (the app stopped, one at a time, on a warm
   * connection): `count` logins made by its grant() and revoked with a session held open,
   * `count` with none, and a single catalog commit (`alter role … nologin`) as the admin.
   * Each revoke is the real code, the same the app runs. Returns ms, and the roles made.
   */
  async timeRevokes(count: number): Promise<RevokeAlone> {
    const provisioner = postgresProvisioner(
      { kind: 'postgres', connectionEnv: 'unused', roles: [EXPIRY_READONLY_ROLE] },
      this.adminUrl,
    );
    const admin = new pg.Client({ connectionString: this.adminUrl, application_name: 'gatehouse-bench-expiry-raw' });
    await admin.connect();
    const times = { withSession: [] as number[], withoutSession: [] as number[], commit: [] as number[] };
    try {
      for (let i = 0; i < count * 2; i++) {
        const withSession = i % 2 === 0;
        const now = Date.now();
        const grant: Grant = {
          id: `bench_raw_${i}`,
          requestId: `bench_raw_${i}`,
          userId: 'U0RAW',
          resourceId: 'bench-expiry',
          resourceName: 'Expiry benchmark',
          status: 'revoking',
          startsAt: new Date(now),
          endsAt: new Date(now + 3_600_000),
          endedAt: null,
          endReason: 'expired',
          lastError: null,
        };
        const outcome = await provisioner.grant(grant);
        const role = String(outcome?.record?.role);
        this.made.push(role);
        const session = withSession
          ? await HeldSession.open(outcome!.secret as unknown as Credentials, grant.endsAt)
          : null;
        // A commit on the catalogs, as each step of a revoke is: on a role of the bench's own making.
        const committed = performance.now();
        await admin.query(`alter role ${pg.escapeIdentifier(role)} with nologin`);
        await admin.query(`alter role ${pg.escapeIdentifier(role)} with login`);
        times.commit.push((performance.now() - committed) / 2);
        const started = performance.now();
        await provisioner.revoke(grant);
        (withSession ? times.withSession : times.withoutSession).push(performance.now() - started);
        if (session && !(await session.nextQueryFails())) throw new Error(`the session of ${role} survived its revoke`);
      }
    } finally {
      await admin.end().catch(() => undefined);
      await closePostgresTargets();
    }
    return {
      withSession: summarize(times.withSession),
      withoutSession: summarize(times.withoutSession),
      commit: summarize(times.commit),
    };
  }

  /** Drops whatever a failed run left, the bench's roles (cluster-wide), then the database. */
  async stop(roles: string[]): Promise<void> {
    const drop = async (role: string) => {
      await this.superuser.query(`drop owned by ${pg.escapeIdentifier(role)}`);
      await this.superuser.query(`drop role ${pg.escapeIdentifier(role)}`);
    };
    try {
      const { rows } = await this.superuser.query<{ rolname: string }>(
        'select rolname from pg_roles where rolname = any($1)',
        [[...roles, ...this.made]],
      );
      for (const { rolname } of rows) await drop(rolname);
      await drop(ADMIN_ROLE);
      await drop(EXPIRY_READONLY_ROLE);
    } catch (err) {
      console.error('  could not drop the expiry benchmark roles:', err);
    } finally {
      await this.superuser.end().catch(() => undefined);
    }
    await this.server.dropDatabase(TARGET_DB).catch(() => undefined);
  }
}

/**
 * A holder's session, opened with the credentials the app made and idle until the grant's
 * end cuts it. `cutAt` is when the client heard of it (the server's FATAL, or the socket
 * closing), by the same clock as the app's `ends_at`.
 */
export class HeldSession {
  cutAt: number | null = null;

  private constructor(
    private readonly client: pg.Client,
    readonly endsAt: number,
  ) {
    const cut = () => {
      this.cutAt ??= Date.now();
    };
    client.on('error', cut);
    client.on('end', cut);
  }

  /** Connects and reads the table through the grant's role; throws if it cannot. */
  static async open(credentials: Credentials, endsAt: Date): Promise<HeldSession> {
    const client = new pg.Client({
      ...credentials,
      port: Number(credentials.port),
      connectionTimeoutMillis: 10_000,
      application_name: 'gatehouse-bench-holder',
    });
    const session = new HeldSession(client, endsAt.getTime());
    try {
      await client.connect();
      const { rows } = await client.query<{ n: number }>('select count(*)::int as n from bench_rows');
      if (rows[0]?.n !== ROWS) throw new Error(`the granted login read ${rows[0]?.n} rows of bench_rows, not ${ROWS}`);
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  /** Closes the client, if the server has not (idempotent). */
  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  /** After the end: true when the session is gone (its next query fails), as it must be. */
  async nextQueryFails(): Promise<boolean> {
    try {
      await this.client.query('select count(*) from bench_rows');
      return false;
    } catch {
      return true;
    } finally {
      await this.close();
    }
  }
}
