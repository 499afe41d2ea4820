/**
 * What the gateway benchmark runs on, as test/support/gateway.ts builds it for the tests:
 * Gatehouse's database (a fresh one on the bench cluster, migrated), a target database
 * with pgbench's tables in a cluster of its own, a policy whose one resource is reached
 * through the gateway, the gateway itself, and an AccessService to file and approve the
 * grants whose logins the load uses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { asSlackUserId } from '../src/access/ids.ts';
import { AccessService } from '../src/access/service.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import type { LoadedPolicy } from '../src/config/policy.ts';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import type { GrantId } from '../src/db/ids.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { Gateway } from '../src/gateway/server.ts';
import { silentLogger } from '../src/log.ts';
import { checkProvisioners, parsePolicy, provisionerFor } from '../src/provisioners/index.ts';
import { closePostgresTargets } from '../src/provisioners/postgres.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import type { BenchServer } from './cluster.ts';

const run = promisify(execFile);

const GATEHOUSE_DB = 'gatehouse_bench_gateway';
const TARGET_DB = 'bench_gateway_target';
const TARGET_ENV = 'BENCH_GATEWAY_TARGET_URL';
/** The role a grant's login joins: it may read pgbench's tables. */
const READERS_ROLE = 'bench_gateway_readers';
/** The target's own cluster takes the 100 sessions, pgbench's 16 and its admin with room to spare. */
const TARGET_MAX_CONNECTIONS = 250;
const OWNER = asSlackUserId('U0OWNER01');
export const RESOURCE_ID = 'bench-gateway';

export const contractor = (i: number) => asSlackUserId(`U0G${String(i).padStart(6, '0')}`);

/** A grant's gateway login, as its holder's message gives it. */
export interface GatewayCredentials {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
  sslmode: string;
}

/** Where pgbench or a pg client connects, and as whom. */
export interface Endpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

export interface GatewayWorld {
  gateway: Gateway;
  /** Gatehouse's database: the gateway's records commit here. */
  gatehouseUrl: string;
  db: Db;
  /** The target database as its admin (the cluster's superuser): the direct path. */
  direct: Endpoint;
  directUrl: string;
  /** The gateway's login of the i-th contractor's grant (made on first use). */
  grant(i: number): Promise<{ grantId: GrantId; login: Endpoint }>;
  stop(): Promise<void>;
}

const policyText = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  contractors: [${Array.from({ length: contractors }, (_, i) => contractor(i)).join(', ')}]
  owners: [${OWNER}]
resources:
  - id: ${RESOURCE_ID}
    name: Gateway benchmark database
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner:
      kind: postgres
      connection_env: ${TARGET_ENV}
      roles: [${READERS_ROLE}]
      gateway: {}
`;

/**
 * The target in an embedded cluster of its own, as a resource's database is on another
 * server than Gatehouse's: its own WAL, and max_connections raised for the sessions (a
 * restart applies it).
 */
async function startTargetCluster(): Promise<{ cluster: EmbeddedCluster; dataDir: string }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-gateway-target-'));
  await fs.chmod(dataDir, 0o755);
  const first = await EmbeddedCluster.open({ dataDir, log: silentLogger(), database: TARGET_DB });
  const client = new pg.Client({ connectionString: first.url(TARGET_DB) });
  await client.connect();
  await client.query(`alter system set max_connections = ${TARGET_MAX_CONNECTIONS}`);
  await client.end();
  await first.stop();
  return { cluster: await EmbeddedCluster.open({ dataDir, log: silentLogger(), database: TARGET_DB }), dataDir };
}

/** At exit, synchronously: an immediate shutdown of the target's server (its pid from postmaster.pid), and its directory removed. */
function killTargetCluster(dataDir: string): void {
  try {
    const pid = Number.parseInt(
      readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0] ?? '',
      10,
    );
    if (Number.isInteger(pid)) process.kill(pid, 'SIGQUIT');
  } catch {
    // not running
  }
  rmSync(dataDir, { recursive: true, force: true });
}

export async function startGatewayWorld(
  server: BenchServer,
  options: { pgbench: string; contractors: number },
): Promise<GatewayWorld> {
  const target = await startTargetCluster();
  // Interrupted (bench/run.ts exits on SIGINT): the target's server is detached, so end it here.
  const onExit = () => killTargetCluster(target.dataDir);
  process.once('exit', onExit);
  const stops: (() => Promise<unknown>)[] = [
    async () => {
      process.off('exit', onExit);
      await target.cluster.stop();
      await fs.rm(target.dataDir, { recursive: true, force: true });
    },
  ];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
  };
  try {
    const targetUrl = target.cluster.url(TARGET_DB);
    const url = new URL(targetUrl);
    const direct: Endpoint = {
      host: url.hostname,
      port: Number(url.port),
      database: TARGET_DB,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    };
    // pgbench's tables, made by pgbench as the admin, directly on the target; the grants' role may read them.
    await run(options.pgbench, ['-i', '-s', '1', '-q', ...connectArgs(direct), direct.database], {
      env: pgEnv(direct),
    });
    const admin = new pg.Client({ connectionString: targetUrl });
    await admin.connect();
    await admin.query(`create role ${READERS_ROLE} nologin`);
    await admin.query(
      `grant select on pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history to ${READERS_ROLE}`,
    );
    await admin.end();

    const gatehouseUrl = await server.freshDatabase(GATEHOUSE_DB);
    stops.push(() => server.dropDatabase(GATEHOUSE_DB));
    const pool = createPool(gatehouseUrl, 10);
    pool.on('error', () => undefined);
    const db = createDb(pool);
    stops.push(() => db.destroy());
    await migrateToLatest(db);
    const audit = new AuditLog(db, pool, silentLogger());

    const text = policyText(options.contractors);
    const policy: LoadedPolicy = {
      policy: parsePolicy(text, 'bench-gateway.yml'),
      path: 'bench-gateway.yml',
      sha256: createHash('sha256').update(text).digest('hex'),
    };
    const secretsKey = randomBytes(32).toString('hex');
    const env: Record<string, string> = { [TARGET_ENV]: targetUrl, GATEHOUSE_SECRETS_KEY: secretsKey };
    const gateway = await Gateway.start({
      db,
      databaseUrl: gatehouseUrl,
      policy: () => policy,
      env,
      secretsKey,
      host: '127.0.0.1',
      port: 0,
      tls: null,
      plaintext: 'loopback',
      log: silentLogger(),
    });
    stops.push(async () => {
      await gateway.stop();
      await closePostgresTargets();
    });
    env.GATEHOUSE_GATEWAY_PUBLIC_ADDRESS = `127.0.0.1:${gateway.address().port}`;
    checkProvisioners(policy, env);
    const box = SecretBox.fromEnv(secretsKey)!;
    const service = new AccessService({
      db,
      audit,
      policy: () => policy,
      provisionerFor: (config) => provisionerFor(config, env, { db }),
      log: silentLogger(),
      now: () => new Date(),
      secrets: box,
    });
    const grants = new Map<number, Promise<{ grantId: GrantId; login: Endpoint }>>();
    const makeGrant = async (i: number) => {
      const filed = await service.request({ requester: contractor(i), resourceId: RESOURCE_ID, reason: 'benchmark' });
      if (!filed.ok) throw new Error(`request refused: ${JSON.stringify(filed.refusal)}`);
      const approved = await service.approve(filed.request.id, OWNER);
      if (!approved.ok || approved.grant?.status !== 'active')
        throw new Error(`grant not active after approval: ${JSON.stringify(approved)}`);
      const row = await db
        .selectFrom('grants')
        .select(['id', 'delivery_secret'])
        .where('id', '=', approved.grant.id)
        .executeTakeFirstOrThrow();
      const credentials = JSON.parse(box.open(row.delivery_secret!, row.id)) as GatewayCredentials;
      if (credentials.sslmode !== 'disable') throw new Error(`expected a plain TCP login, got ${credentials.sslmode}`);
      const login: Endpoint = {
        host: credentials.host,
        port: Number(credentials.port),
        database: credentials.database,
        user: credentials.user,
        password: credentials.password,
      };
      return { grantId: row.id, login };
    };
    return {
      gateway,
      gatehouseUrl,
      db,
      direct,
      directUrl: targetUrl,
      grant(i) {
        let made = grants.get(i);
        if (!made) grants.set(i, (made = makeGrant(i)));
        return made;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** libpq's -h -p -U, for pgbench (the database name goes last, after the options). */
export function connectArgs(endpoint: Endpoint): string[] {
  return ['-h', endpoint.host, '-p', String(endpoint.port), '-U', endpoint.user];
}

/** The password and plain TCP (the gateway has no certificate here; loopback only). */
export function pgEnv(endpoint: Endpoint): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: endpoint.password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
}
