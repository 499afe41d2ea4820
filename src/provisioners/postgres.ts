import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Grant } from '../access/types.ts';
import type { PostgresProvisionerConfig } from '../config/policy.ts';
import type { GrantOutcome, Provisioner } from './provisioner.ts';

/** Every login role Gatehouse makes starts with this, so a role it did not make is never touched. */
export const ROLE_PREFIX = 'gatehouse_';

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
}

/** One pool per target database, shared by every grant of the resources that name it. */
const pools = new Map<string, pg.Pool>();

function poolFor(url: string): pg.Pool {
  let pool = pools.get(url);
  if (!pool) {
    pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'gatehouse-provisioner' });
    pool.on('error', () => undefined); // an idle connection cut by the server: the pool replaces it
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
 * `kind: postgres`: a login role per grant in the target database, with a strong random
 * password, `VALID UNTIL` the grant's end (so it lapses even if a revoke never ran), and
 * membership of the policy's roles. Revoking stops new logins, ends the role's open
 * sessions and drops it. Both are idempotent: a grant retried after a crash sets a new
 * password (the holder is sent the one that works), a revoke of a role already gone is
 * done. Identifiers and literals are escaped by pg, never pasted.
 */
export function postgresProvisioner(config: PostgresProvisionerConfig, targetUrl: string): Provisioner {
  const target = new URL(targetUrl);
  return {
    async grant(grant: Grant): Promise<GrantOutcome> {
      const role = roleNameFor(grant.id);
      const password = randomBytes(24).toString('base64url');
      const client = await poolFor(targetUrl).connect();
      try {
        await client.query('begin');
        const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
        const options = `login password ${pg.escapeLiteral(password)} valid until ${pg.escapeLiteral(grant.endsAt.toISOString())}`;
        await client.query(`${exists ? 'alter' : 'create'} role ${pg.escapeIdentifier(role)} with ${options}`);
        for (const member of config.roles) await client.query(`grant ${pg.escapeIdentifier(member)} to ${pg.escapeIdentifier(role)}`);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      const credentials: PostgresCredentials = {
        host: target.hostname,
        port: target.port || '5432',
        database: decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres',
        user: role,
        password,
      };
      return {
        secret: { ...credentials },
        // For the audit log: which role, and a fingerprint to match a credential against, never the password.
        record: { role, roles: config.roles, credential_sha256: createHash('sha256').update(password).digest('hex').slice(0, 16) },
      };
    },

    /**
     * Grant roles in place: named like ours and members of this resource's roles. Roles are
     * cluster-wide, so the membership keeps one resource (or one deployment) from taking
     * another's for drift when they share a cluster but not their roles.
     */
    async inPlace(): Promise<string[]> {
      const { rows } = await poolFor(targetUrl).query<{ rolname: string }>(
        `select r.rolname from pg_roles r
         where r.rolname like $1 and exists (
           select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
           where m.member = r.oid and g.rolname = any($2))`,
        [`${ROLE_PREFIX.replace(/_/g, '\\_')}%`, config.roles],
      );
      return rows.map((row) => row.rolname.slice(ROLE_PREFIX.length));
    },

    async revoke(grant: Grant): Promise<void> {
      const role = roleNameFor(grant.id);
      const pool = poolFor(targetUrl);
      const exists = (await pool.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
      if (!exists) return;
      await pool.query(`alter role ${pg.escapeIdentifier(role)} with nologin`);
      await pool.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
      await pool.query(`drop role if exists ${pg.escapeIdentifier(role)}`);
    },
  };
}
