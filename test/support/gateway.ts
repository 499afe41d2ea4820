import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { AccessService } from '../../src/access/service.ts';
import type { GrantId } from '../../src/db/ids.ts';
import { Gateway, type GatewayOptions } from '../../src/gateway/server.ts';
import { silentLogger } from '../../src/log.ts';
import { checkProvisioners, provisionerFor } from '../../src/provisioners/index.ts';
import { closePostgresTargets, roleNameFor } from '../../src/provisioners/postgres.ts';
import { SecretBox } from '../../src/secrets/sealed.ts';
import { PEOPLE, loadedPolicy } from './access.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

const run = promisify(execFile);

/**
 * Two resources reached through the gateway, on one target database: `billing-db`
 * (parameters recorded, DDL, COPY TO PROGRAM, ALTER SYSTEM and SET ROLE refused; its invoices
 * table sensitive, more than 2 rows an alert) and
 * `reports-db` (read-only sessions, parameters hashed).
 */
export function gatewayPolicy(role: string): string {
  return `
audit_channel: C0AUDIT01
groups:
  contractors: [${PEOPLE.ana}]
  owners: [${PEOPLE.dana}]
resources:
  - id: billing-db
    name: Billing database
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner:
      kind: postgres
      connection_env: BILLING_DB_ADMIN_URL
      roles: [${role}]
      gateway: { parameters: record, refuse: [ddl, copy_program, alter_system, set_role] }
    alerts: { sensitive_tables: [public.invoices], rows_over: 2 }
  - id: reports-db
    name: Reports database
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner:
      kind: postgres
      connection_env: BILLING_DB_ADMIN_URL
      roles: [${role}]
      gateway: { read_only: true }
`;
}

export interface GatewayWorld {
  t: TestDatabase;
  target: TestDatabase;
  service: AccessService;
  gateway: Gateway;
  env: Record<string, string>;
  role: string;
  /** Requests, approves and returns the grant's credentials, as its holder's message gives them; Ana's grant of it before is given back. */
  grant(resourceId: string): Promise<{ grantId: GrantId; credentials: Record<string, string> }>;
  /** Another replica of the gateway on the same Gatehouse database. */
  replica(overrides?: Partial<GatewayOptions>): Promise<Gateway>;
  destroy(): Promise<void>;
}

export async function startGatewayWorld(overrides: Partial<GatewayOptions> = {}): Promise<GatewayWorld> {
  const secretsKey = randomBytes(32).toString('hex');
  const role = `readers_${randomBytes(4).toString('hex')}`;
  const t = await createTestDatabase();
  const target = await createTestDatabase({ migrate: false });
  await target.query('create table invoices (id int primary key, total numeric, note text)');
  await target.query(`insert into invoices values (1, 9.99, 'first'), (2, 120, 'second')`);
  await target.query(`create role ${role} nologin`);
  await target.query(`grant select, insert, update on invoices to ${role}`);
  const policy = loadedPolicy(gatewayPolicy(role));
  const env: Record<string, string> = { BILLING_DB_ADMIN_URL: target.url, GATEHOUSE_SECRETS_KEY: secretsKey };
  const box = SecretBox.fromEnv(secretsKey)!;
  const replicas: Gateway[] = [];
  const replica = async (more: Partial<GatewayOptions> = {}) => {
    const started = await Gateway.start({
      db: t.db,
      databaseUrl: t.url,
      policy: () => policy,
      env,
      secretsKey,
      host: '127.0.0.1',
      port: 0,
      tls: null,
      plaintext: 'loopback',
      log: silentLogger(),
      ...overrides,
      ...more,
    });
    replicas.push(started);
    return started;
  };
  const gateway = await replica();
  env.GATEHOUSE_GATEWAY_PUBLIC_ADDRESS = `127.0.0.1:${gateway.address().port}`;
  if (overrides.tls) env.GATEHOUSE_GATEWAY_TLS_CERT_FILE = 'configured';
  checkProvisioners(policy, env);
  const service = new AccessService({
    db: t.db,
    audit: t.audit,
    policy: () => policy,
    provisionerFor: (c) => provisionerFor(c, env, { db: t.db }),
    log: silentLogger(),
    now: () => new Date(),
    secrets: box,
  });
  return {
    t,
    target,
    service,
    gateway,
    env,
    role,
    replica,
    async grant(resourceId) {
      // One live grant per person and resource: the one before is given back first.
      const live = await t.db
        .selectFrom('grants')
        .select('id')
        .where('user_id', '=', PEOPLE.ana)
        .where('resource_id', '=', resourceId)
        .where('status', '=', 'active')
        .execute();
      for (const held of live) await service.release(held.id, PEOPLE.ana);
      const filed = await service.request({ requester: PEOPLE.ana, resourceId, reason: 'reconcile November' });
      if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
      const approved = await service.approve(filed.request.id, PEOPLE.dana);
      if (!approved.ok) throw new Error(JSON.stringify(approved));
      const grant = await t.db
        .selectFrom('grants')
        .selectAll()
        .where('request_id', '=', filed.request.id)
        .executeTakeFirstOrThrow();
      if (grant.status !== 'active') throw new Error(`grant is ${grant.status}: ${grant.last_error}`);
      return { grantId: grant.id, credentials: JSON.parse(box.open(grant.delivery_secret!, grant.id)) };
    },
    async destroy() {
      for (const started of replicas) await started.stop();
      await closePostgresTargets();
      // Roles are cluster-wide: the logins of grants still live go with the rest.
      const logins = await t.db.selectFrom('grants').select('id').execute();
      await target.destroy();
      for (const { id } of logins) await t.query(`drop role if exists ${roleNameFor(id)}`);
      await t.query(`drop role if exists ${role}`);
      await t.destroy();
    },
  };
}

/** Runs Debian's psql against the gateway with a grant's credentials; resolves with its output, or rejects with it. */
export async function psql(
  credentials: Record<string, string>,
  args: string[],
  options: { sslmode?: string; password?: string; input?: string; maxBuffer?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const conninfo = `host=${credentials.host} port=${credentials.port} dbname=${credentials.database} user=${credentials.user} sslmode=${options.sslmode ?? credentials.sslmode ?? 'disable'}`;
  const child = run('psql', [conninfo, '-X', '-v', 'ON_ERROR_STOP=1', '-At', ...args], {
    env: { ...process.env, PGPASSWORD: options.password ?? credentials.password, PGCONNECT_TIMEOUT: '10' },
    maxBuffer: options.maxBuffer ?? 1024 * 1024,
  });
  if (options.input !== undefined) {
    child.child.stdin?.end(options.input);
  }
  return child;
}
