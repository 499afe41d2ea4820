import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import type { ExtendOutcome, Grant, GrantOutcome, Provisioner, RevokeOutcome } from '../access/ports.ts';
import { envName, explain, strict } from '../config/policy-schema.ts';
import { ProvisionerSetupError, type ProvisionerKind } from './kind.ts';
import { checkPostgresTarget } from './postgres-checks.ts';
import {
  gatewayAddressOf,
  issueGatewayLogin,
  PARAMETER_RECORDING,
  STATEMENT_CLASSES,
  upstreamPasswordFor,
  type GatewayLimits,
} from './postgres-gateway.ts';
import type { Db } from '../db/database.ts';

export interface PostgresProvisionerConfig {
  kind: 'postgres';
  /** The environment variable that holds the target database's admin connection string. */
  connectionEnv: string;
  /** Roles each grant's login role joins, like readonly. */
  roles: string[];
  /** Set when holders reach the database through Gatehouse's gateway only (docs/gateway.md). */
  gateway?: GatewayLimits;
}

/** Every login role Gatehouse makes starts with this, so a role it did not make is never touched. */
export const ROLE_PREFIX = 'gatehouse_';

/** How long a revoke waits for an ended session's process to exit before it says so. */
const SESSION_EXIT_WAIT_MS = 5_000;
/** How often it looks meanwhile. */
const SESSION_EXIT_POLL_MS = 5;

/** Waits until no session of `role` is left, or SESSION_EXIT_WAIT_MS (the check that follows says so). */
async function sessionsGone(client: pg.ClientBase, role: string): Promise<void> {
  const deadline = Date.now() + SESSION_EXIT_WAIT_MS;
  while (Date.now() < deadline) {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where usename = $1',
      [role],
    );
    if (rows[0]?.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, SESSION_EXIT_POLL_MS));
  }
}

/** What every grant's login starts with: grant ids start `grt_`. Other `gatehouse_…` roles are not grants. */
const GRANT_ROLE_PREFIX = `${ROLE_PREFIX}grt_`;

/** The login role of one grant: the prefix and the grant id, lower-case, safe as an identifier. */
export function roleNameFor(grantId: string): string {
  return `${ROLE_PREFIX}${grantId.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** What the holder is sent by direct message, and nowhere else. */
export interface PostgresCredentials {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
  /** Through the gateway: `require` when it has a certificate. */
  sslmode?: string;
}

function fingerprint(password: string): string {
  return createHash('sha256').update(password).digest('hex').slice(0, 16);
}

/**
 * Where a resource's database is, from its admin connection string (never its admin's
 * password): what a grant's holder is sent, and where the gateway connects.
 */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
  /** From the URL's sslmode: none for disable (or unset), else TLS, verified for verify-ca and verify-full. */
  tls: 'none' | 'unverified' | 'verified';
}

export function postgresTargetOf(url: string): PostgresTarget {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('sslmode') ?? 'disable';
  return {
    host: decodeURIComponent(parsed.hostname) || 'localhost',
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
    tls:
      mode === 'disable' || mode === 'allow' || mode === 'prefer'
        ? 'none'
        : mode.startsWith('verify')
          ? 'verified'
          : 'unverified',
  };
}

/** One pool per target database, shared by every grant of the resources that name it. */
const pools = new Map<string, pg.Pool>();

export function poolFor(url: string): pg.Pool {
  let pool = pools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'gatehouse-provisioner' });
    pool.on('error', () => undefined); // an idle connection cut by the server: the pool replaces it
    // A connection cut while checked out (the target restarting mid-revoke) must fail its
    // query, not end the process with an unhandled error: the step fails and is retried.
    pool.on('connect', (client) => client.on('error', () => undefined));
    pools.set(url, pool);
  }
  return pool;
}

/** Closes the target pools (at shutdown, and between tests). */
export async function closePostgresTargets(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.end()));
}

/**
 * What is left of a login role's access, read from the catalogs: the proof a revoke
 * records, and what a failed one names.
 */
export interface AccessLeft {
  role_exists: boolean;
  can_login: boolean;
  /** Roles it is still a member of. */
  memberships: string[];
  /** Its sessions still open, in any database of the cluster. */
  sessions: number;
}

export function accessIsGone(left: AccessLeft): boolean {
  return !left.can_login && left.memberships.length === 0 && left.sessions === 0;
}

function describeAccessLeft(role: string, left: AccessLeft): string {
  const parts: string[] = [];
  if (left.can_login) parts.push('can still log in');
  if (left.memberships.length > 0) parts.push(`is still a member of ${left.memberships.join(', ')}`);
  if (left.sessions > 0) parts.push(`still has ${left.sessions} open session${left.sessions === 1 ? '' : 's'}`);
  return `${role} ${parts.join(', ')}`;
}

async function accessLeft(client: pg.ClientBase, role: string): Promise<AccessLeft> {
  const { rows } = await client.query<{ can_login: boolean | null; memberships: string[] | null; sessions: number }>(
    `select r.rolcanlogin as can_login,
            (select array_agg(g.rolname::text order by g.rolname) from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid) as memberships,
            (select count(*)::int from pg_stat_activity a where a.usename = $1) as sessions
     from (select 1) one left join pg_roles r on r.rolname = $1`,
    [role],
  );
  const row = rows[0]!;
  return {
    role_exists: row.can_login !== null,
    can_login: row.can_login === true,
    memberships: row.memberships ?? [],
    sessions: row.sessions,
  };
}

/**
 * `kind: postgres`: a login role per grant in the target database, with a strong random
 * password, `VALID UNTIL` the grant's end (so it lapses even if a revoke never ran), and
 * membership of the policy's roles. Both calls are idempotent: a grant retried after a
 * crash sets a new password (the holder is sent the one that works), a revoke of a role
 * already gone checks that nothing is left and is done. Identifiers and literals are
 * escaped by pg, never pasted.
 */
export function postgresProvisioner(
  config: PostgresProvisionerConfig,
  targetUrl: string,
  through?: { db: Db | undefined; env: NodeJS.ProcessEnv },
): Provisioner {
  const target = postgresTargetOf(targetUrl);
  const { database } = target;
  return {
    async grant(grant: Grant): Promise<GrantOutcome> {
      const role = roleNameFor(grant.id);
      // Through the gateway, the role's password is Gatehouse's alone; the holder gets a gateway login.
      const secretsKey = through?.env.GATEHOUSE_SECRETS_KEY;
      if (config.gateway && (!through?.db || !secretsKey))
        throw new Error("a gateway grant needs Gatehouse's database and GATEHOUSE_SECRETS_KEY");
      const password = config.gateway ? upstreamPasswordFor(secretsKey!, role) : randomBytes(24).toString('base64url');
      const client = await poolFor(targetUrl).connect();
      try {
        await client.query('begin');
        const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
        // Nothing but a login: no attribute a default might one day give it.
        const options = `login nosuperuser nocreatedb nocreaterole noreplication nobypassrls password ${pg.escapeLiteral(password)} valid until ${pg.escapeLiteral(grant.endsAt.toISOString())}`;
        await client.query(`${exists ? 'alter' : 'create'} role ${pg.escapeIdentifier(role)} with ${options}`);
        for (const member of config.roles)
          await client.query(`grant ${pg.escapeIdentifier(member)} to ${pg.escapeIdentifier(role)}`);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      if (config.gateway) {
        const login = await issueGatewayLogin(through!.db!, grant.id);
        const address = gatewayAddressOf(through!.env);
        const credentials: PostgresCredentials = { ...address, database, ...login };
        return {
          secret: { ...credentials },
          record: {
            role,
            roles: config.roles,
            via: 'gateway',
            login: login.user,
            credential_sha256: fingerprint(login.password),
          },
        };
      }
      const credentials: PostgresCredentials = {
        host: target.host,
        port: String(target.port),
        database,
        user: role,
        password,
      };
      return {
        secret: { ...credentials },
        // For the audit log: which role, and a fingerprint to match a credential against, never the password.
        record: { role, roles: config.roles, credential_sha256: fingerprint(password) },
      };
    },

    /**
     * Grant roles in place: named like a grant's login and members of this resource's roles.
     * Roles are cluster-wide, so the membership keeps one resource (or one deployment) from
     * taking another's for drift when they share a cluster but not their roles. The admin
     * itself is never one, whatever its name (`gatehouse_admin` is a member of the roles too).
     */
    async inPlace(): Promise<string[]> {
      const { rows } = await poolFor(targetUrl).query<{ rolname: string }>(
        `select r.rolname from pg_roles r
         where r.rolname like $1 and r.rolname <> current_user and exists (
           select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
           where m.member = r.oid and g.rolname = any($2))`,
        [`${GRANT_ROLE_PREFIX.replace(/_/g, '\\_')}%`, config.roles],
      );
      return rows.map((row) => row.rolname.slice(ROLE_PREFIX.length));
    },

    /**
     * An extension: the login's `VALID UNTIL` moves to the grant's new end, and nothing else
     * changes (its password, its memberships, its open sessions, a gateway login). It only
     * moves later: two attempts for two extensions, finishing in either order, leave the
     * later end (they take turns on a lock per role). A role that is gone cannot be
     * extended: that is an error for the retry sweep, and reconcile.
     */
    async extend(grant: Grant): Promise<ExtendOutcome> {
      const role = roleNameFor(grant.id);
      const client = await poolFor(targetUrl).connect();
      try {
        await client.query('begin');
        await client.query('select pg_advisory_xact_lock(hashtext($1))', [`gatehouse extend ${role}`]);
        const { rows } = await client.query<{ valid_until: Date | null }>(
          'select rolvaliduntil as valid_until from pg_roles where rolname = $1',
          [role],
        );
        if (rows.length === 0)
          throw new Error(`the login role ${role} is not in the target database, so it cannot be extended`);
        const current = rows[0]!.valid_until;
        if (!current || current.getTime() < grant.endsAt.getTime())
          await client.query(
            `alter role ${pg.escapeIdentifier(role)} valid until ${pg.escapeLiteral(grant.endsAt.toISOString())}`,
          );
        const after = await client.query<{ valid_until: Date | null }>(
          'select rolvaliduntil as valid_until from pg_roles where rolname = $1',
          [role],
        );
        await client.query('commit');
        return { record: { role, valid_until: after.rows[0]?.valid_until?.toISOString() ?? null } };
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    async revoke(grant: Grant): Promise<RevokeOutcome> {
      const client = await poolFor(targetUrl).connect();
      try {
        return await revokeLogin(client, roleNameFor(grant.id));
      } finally {
        client.release();
      }
    },
  };
}

/**
 * Takes a grant's login away, access first, and never stops half-way: the memberships
 * (what it could read) and the login go before anything else, then its sessions end,
 * then the role is dropped. Every step runs even when one before it failed, and each is
 * idempotent. Then the catalogs are read back: the access must be gone (no login, no
 * membership, no session), or the revoke fails, naming what is left, and is retried. A
 * role that cannot be dropped but holds no access is recorded as left behind.
 */
async function revokeLogin(client: pg.ClientBase, role: string): Promise<RevokeOutcome> {
  const id = pg.escapeIdentifier(role);
  const self = await client.query<{ me: string }>('select current_user as me');
  if (self.rows[0]?.me === role)
    throw new Error(`${role} is the admin Gatehouse connects as, not a grant's login: it is never revoked`);
  const failed: string[] = [];
  const step = async (name: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    }
  };
  const before = await accessLeft(client, role);
  let sessionsEnded = 0;
  let dropError: string | null = null;
  if (before.role_exists) {
    for (const member of before.memberships) {
      await step(`removing its membership of ${member}`, () =>
        client.query(`revoke ${pg.escapeIdentifier(member)} from ${id}`),
      );
    }
    await step('stopping its logins', () => client.query(`alter role ${id} with nologin password null`));
    await step('ending its sessions', async () => {
      // Signalling another role's sessions takes that role's privileges (PostgreSQL 16 and
      // newer no longer give them to the role that created it): take membership of it,
      // which CREATEROLE allows, rather than pg_signal_backend over every session.
      await client.query(
        `do $$ begin if not pg_has_role(current_user, ${pg.escapeLiteral(role)}, 'USAGE') then execute format('grant %I to %I', ${pg.escapeLiteral(role)}, current_user); end if; end $$`,
      );
      const { rows } = await client.query<{ ended: boolean }>(
        'select pg_terminate_backend(pid) as ended from pg_stat_activity where usename = $1',
        [role],
      );
      sessionsEnded = rows.filter((row) => row.ended).length;
      // Signalled; wait for the processes to exit. pg_terminate_backend's own timeout looks
      // only every 100 ms, which would hold every revoke with a session that long.
      if (sessionsEnded > 0) await sessionsGone(client, role);
    });
    try {
      // Anything it came to own in this database (it should own nothing) is kept, as ours.
      await client.query(`reassign owned by ${id} to current_user`);
      await client.query(`drop owned by ${id}`);
      await client.query(`drop role if exists ${id}`);
    } catch (err) {
      dropError = (err as Error).message;
    }
  }
  const after = await accessLeft(client, role);
  if (!accessIsGone(after)) failed.push(`access still in place: ${describeAccessLeft(role, after)}`);
  if (failed.length > 0)
    throw new Error(
      `revoking ${role} did not finish: ${[...failed, ...(dropError ? [`dropping the role: ${dropError}`] : [])].join('; ')}`,
    );
  return {
    record: {
      role,
      ...(before.role_exists ? { memberships_removed: before.memberships, sessions_ended: sessionsEnded } : {}),
      // Read back from the target after the revoke: proof, not intent.
      access_left: after,
      // A role that owns something elsewhere cannot be dropped; with no login, membership or
      // session left it is no access, so the grant ends and the record says what stayed.
      ...(dropError ? { role_left_behind: dropError } : {}),
    },
  };
}

const schema = strict(
  {
    kind: z.literal('postgres'),
    connection_env: envName,
    roles: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/), {
        error: explain('a list of role names', 'list the roles a grant joins, like [readonly]'),
      })
      .min(1, { error: 'needs at least one role: list the roles a grant joins, like [readonly]' }),
    gateway: strict(
      {
        read_only: z.boolean({ error: explain('true or false', 'true makes every session read-only') }).default(false),
        refuse: z
          .array(
            z.enum(STATEMENT_CLASSES, {
              error: explain('a statement class', `use any of ${STATEMENT_CLASSES.join(', ')}`),
            }),
            {
              error: explain('a list of statement classes', `list any of ${STATEMENT_CLASSES.join(', ')}`),
            },
          )
          .default([]),
        parameters: z
          .enum(PARAMETER_RECORDING, {
            error: explain('a way to record parameters', 'use record, hash (the default) or omit'),
          })
          .default('hash'),
      },
      'a gateway block',
      'gateway takes read_only, refuse and parameters',
    )
      .nullish()
      .transform((block) => block ?? undefined),
  },
  'a postgres provisioner',
  'kind postgres takes connection_env, roles and gateway',
).transform((fields): PostgresProvisionerConfig => ({
  kind: 'postgres',
  connectionEnv: fields.connection_env,
  roles: fields.roles,
  ...(fields.gateway
    ? {
        gateway: {
          readOnly: fields.gateway.read_only,
          refuse: fields.gateway.refuse,
          parameters: fields.gateway.parameters,
        },
      }
    : {}),
}));

export const postgresKind: ProvisionerKind<PostgresProvisionerConfig> = {
  kind: 'postgres',
  schema,
  create(config, env, deps) {
    const url = env[config.connectionEnv];
    if (!url)
      throw new ProvisionerSetupError(
        `${config.connectionEnv} is not set`,
        'connection_env',
        'set it to a connection string for the target database, as a role that may create roles',
      );
    return postgresProvisioner(config, url, config.gateway ? { db: deps.db, env } : undefined);
  },
  needsSecretsKey: 'postgres grants send the holder a password, which waits sealed with this key until it is sent',
  /** Every step of a grant and a revoke, rehearsed as the configured admin (see checkPostgresTarget). */
  async checkTarget(config, env, own) {
    const url = env[config.connectionEnv];
    if (!url) return null; // checkSetup has said so
    return { ...(await checkPostgresTarget(url, config.roles, own)), via: config.connectionEnv };
  },
  wouldDo: (config, grant) => ({
    kind: 'postgres',
    connection_env: config.connectionEnv,
    role: roleNameFor(grant.id),
    roles: config.roles,
  }),
};
