import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { OwnDatabase, TargetCheck } from './kind.ts';

/** Reads what identifies a database's cluster, or null where the function is not allowed. */
export async function ownDatabaseOf(client: pg.Pool | pg.ClientBase): Promise<OwnDatabase | null> {
  try {
    const { rows } = await client.query<{ id: string; name: string }>(
      'select system_identifier::text as id, current_database() as name from pg_control_system()',
    );
    return rows[0] ? { systemIdentifier: rows[0].id, name: rows[0].name } : null;
  } catch {
    return null;
  }
}

interface AdminFacts {
  admin: string;
  database: string;
  version: number;
  superuser: boolean;
  createrole: boolean;
}

/**
 * Checks, before any grant, that the admin in a `postgres` resource's connection string
 * can do every step of a grant and of a revoke on this server: create a login, give it the
 * policy's roles, take them back, end its sessions and drop it. The rules differ by
 * version (up to 15, CREATEROLE may grant any role that is not a superuser; from 16, only
 * roles it holds with ADMIN OPTION), so the check also rehearses the steps on a throwaway
 * role in a transaction it rolls back. Each problem names what is missing and the GRANT
 * that fixes it. Warnings say where a granted login could reach more than this database.
 *
 * `own` is Gatehouse's own database: when the target is on the same server and a granted
 * login could connect to it, the warning says so.
 */
export async function checkPostgresTarget(
  targetUrl: string,
  roles: readonly string[],
  own?: OwnDatabase | null,
): Promise<TargetCheck> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const client = new pg.Client({
    connectionString: targetUrl,
    application_name: 'gatehouse-provisioner-check',
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const url = new URL(targetUrl);
    return {
      problems: [
        `cannot connect to ${url.hostname}:${url.port || '5432'}${url.pathname} as ${decodeURIComponent(url.username) || 'the default user'}: ${(err as Error).message}`,
      ],
      warnings,
    };
  }
  try {
    const facts = await adminFacts(client);
    const admin = pg.escapeIdentifier(facts.admin);
    if (facts.superuser) {
      warnings.push(
        `${facts.admin} is a superuser: grants work, but a role with CREATEROLE and ADMIN OPTION on ${roles.join(', ')} is enough (docs/provisioners.md, "Set up once").`,
      );
    } else if (!facts.createrole) {
      problems.push(`${facts.admin} may not create roles: run ALTER ROLE ${admin} CREATEROLE;`);
    }
    for (const role of roles) problems.push(...(await roleProblems(client, facts, role)));
    if (problems.length === 0) {
      const rehearsal = await rehearse(client, roles);
      if (rehearsal) problems.push(`${facts.admin} cannot do every step of a grant and its revoke: ${rehearsal}`);
    }
    const sameServer = own ? (await ownDatabaseOf(client))?.systemIdentifier === own.systemIdentifier : false;
    warnings.push(...(await reachWarnings(client, facts, sameServer ? own!.name : undefined)));
  } finally {
    await client.end().catch(() => undefined);
  }
  return { problems, warnings };
}

async function adminFacts(client: pg.Client): Promise<AdminFacts> {
  const { rows } = await client.query<{
    admin: string;
    database: string;
    version: number;
    superuser: boolean;
    createrole: boolean;
  }>(
    `select current_user as admin, current_database() as database, current_setting('server_version_num')::int as version,
            r.rolsuper as superuser, r.rolcreaterole as createrole
     from pg_roles r where r.rolname = current_user`,
  );
  return rows[0]!;
}

async function roleProblems(client: pg.Client, facts: AdminFacts, role: string): Promise<string[]> {
  const { rows } = await client.query<{ superuser: boolean; admin_option: boolean }>(
    `select r.rolsuper as superuser, pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION') as admin_option from pg_roles r where r.rolname = $1`,
    [role],
  );
  const found = rows[0];
  if (!found)
    return [
      `role ${role} does not exist in ${facts.database}'s cluster: create it, e.g. CREATE ROLE ${pg.escapeIdentifier(role)} NOLOGIN; then grant it what a grant should allow.`,
    ];
  if (found.superuser)
    return [
      `role ${role} is a superuser: a grant must never make its holder one; name a role with only the privileges a grant should give.`,
    ];
  if (facts.superuser) return [];
  // Up to 15, CREATEROLE alone may grant any role that is not a superuser; from 16 it takes ADMIN OPTION.
  if (facts.version >= 160000 && !found.admin_option) {
    return [
      `${facts.admin} cannot give or take ${role} (PostgreSQL 16 and newer need ADMIN OPTION): run GRANT ${pg.escapeIdentifier(role)} TO ${pg.escapeIdentifier(facts.admin)} WITH ADMIN OPTION;`,
    ];
  }
  return [];
}

/**
 * The steps of a grant and a revoke on a throwaway role, in a transaction that is rolled
 * back: nothing stays. Returns what failed, or null.
 */
async function rehearse(client: pg.Client, roles: readonly string[]): Promise<string | null> {
  const probe = `gatehouse_check_${randomBytes(6).toString('hex')}`;
  const id = pg.escapeIdentifier(probe);
  let doing = 'creating a login role';
  try {
    await client.query('begin');
    await client.query(
      `create role ${id} with login nosuperuser nocreatedb nocreaterole noreplication nobypassrls valid until 'infinity'`,
    );
    for (const role of roles) {
      doing = `giving it ${role}`;
      await client.query(`grant ${pg.escapeIdentifier(role)} to ${id}`);
    }
    for (const role of roles) {
      doing = `taking ${role} back`;
      await client.query(`revoke ${pg.escapeIdentifier(role)} from ${id}`);
    }
    doing = 'taking the privileges of the login role, which ending its sessions needs';
    const { rows } = await client.query<{ usage: boolean }>(`select pg_has_role(current_user, $1, 'USAGE') as usage`, [
      probe,
    ]);
    if (!rows[0]?.usage) await client.query(`grant ${id} to current_user`);
    const after = await client.query<{ usage: boolean }>(`select pg_has_role(current_user, $1, 'USAGE') as usage`, [
      probe,
    ]);
    if (!after.rows[0]?.usage)
      throw new Error(
        'membership was granted but gives no privileges (is the admin NOINHERIT?): give it INHERIT, or GRANT pg_signal_backend to it',
      );
    doing = 'dropping the login role';
    await client.query(`drop role ${id}`);
    return null;
  } catch (err) {
    return `${doing} failed: ${(err as Error).message}`;
  } finally {
    await client.query('rollback').catch(() => undefined);
  }
}

/**
 * Databases of the cluster a granted login could connect to besides its own (PUBLIC keeps
 * CONNECT unless revoked; pg_hba.conf may still refuse), and TEMP on its own.
 */
async function reachWarnings(client: pg.Client, facts: AdminFacts, ownDatabase?: string): Promise<string[]> {
  const { rows } = await client.query<{ datname: string; connect: boolean; temp: boolean }>(
    `select d.datname,
            d.datacl is null or exists (select 1 from aclexplode(d.datacl) a where a.grantee = 0 and a.privilege_type = 'CONNECT') as connect,
            d.datacl is null or exists (select 1 from aclexplode(d.datacl) a where a.grantee = 0 and a.privilege_type = 'TEMPORARY') as temp
     from pg_database d where d.datallowconn order by d.datname`,
  );
  const warnings: string[] = [];
  const others = rows.filter((row) => row.connect && row.datname !== facts.database).map((row) => row.datname);
  if (others.length > 0) {
    const own = ownDatabase && others.includes(ownDatabase) ? ` (${ownDatabase} is Gatehouse's own database)` : '';
    warnings.push(
      `a granted login can connect to other databases of this cluster: ${others.join(', ')}${own}, unless pg_hba.conf refuses it. ` +
        `In each, run REVOKE CONNECT ON DATABASE <name> FROM PUBLIC; and grant CONNECT to the roles that need it (docs/provisioners.md).`,
    );
  }
  if (rows.some((row) => row.datname === facts.database && row.temp)) {
    warnings.push(
      `a granted login can create temporary tables in ${facts.database}: run REVOKE TEMPORARY ON DATABASE ${pg.escapeIdentifier(facts.database)} FROM PUBLIC; if it should not.`,
    );
  }
  return warnings;
}
