-- Gatehouse's two database roles, made once when the PostgreSQL container initialises an
-- empty data directory: the official image runs /docker-entrypoint-initdb.d/*.sql with psql,
-- as the superuser, connected to POSTGRES_DB (compose.yaml mounts this directory there).
-- This is part 1 of sql/least-privilege.sql; part 2 runs after every migration
-- (deploy/migrate.sh). On a managed server, run it once with psql as an admin:
--   GATEHOUSE_OWNER_PASSWORD=… GATEHOUSE_APP_PASSWORD=… psql "$ADMIN_URL" -f deploy/postgres-init/10-gatehouse-roles.sql
--
--   gatehouse_owner  owns the schema and runs the migrations; the bot never logs in as it.
--   gatehouse_app    the bot: reads and writes its tables, appends to the audit log, and
--                    can neither change nor remove an audit event nor switch the triggers off.
-- The passwords come from the environment (psql 15 or newer: \getenv), never from this file.

\set ON_ERROR_STOP on
\getenv owner_password GATEHOUSE_OWNER_PASSWORD
\getenv app_password GATEHOUSE_APP_PASSWORD
\if :{?owner_password}
\else
  \warn 'GATEHOUSE_OWNER_PASSWORD is not set: give the PostgreSQL container the password of gatehouse_owner.'
  select 1 / 0 as gatehouse_owner_password_missing;
\endif
\if :{?app_password}
\else
  \warn 'GATEHOUSE_APP_PASSWORD is not set: give the PostgreSQL container the password of gatehouse_app.'
  select 1 / 0 as gatehouse_app_password_missing;
\endif

create role gatehouse_owner login password :'owner_password';
create role gatehouse_app login password :'app_password';
grant usage, create on schema public to gatehouse_owner;

-- Only Gatehouse's roles may connect to its database: a login that a `postgres` provisioner
-- grants on the same cluster cannot reach it (docs/provisioners.md), nor make temp tables.
select format('revoke connect, temporary on database %I from public', current_database()) \gexec
select format('grant connect on database %I to gatehouse_owner, gatehouse_app', current_database()) \gexec
