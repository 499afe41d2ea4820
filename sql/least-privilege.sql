-- Least privilege for Gatehouse on your own PostgreSQL (see README, "Your own PostgreSQL").
--
-- Two roles: gatehouse_owner owns the schema and runs `gatehouse migrate`; the bot logs in
-- as gatehouse_app, which may read and add audit events but never change or remove them.
-- Run part 1 as a superuser before the first migration, part 2 after every migration.

-- Part 1 (once, as a superuser, connected to the Gatehouse database) ----------------
--   create role gatehouse_owner login password '…';
--   create role gatehouse_app login password '…';
--   grant usage, create on schema public to gatehouse_owner;
-- Then: DATABASE_URL=postgres://gatehouse_owner:…@host/db gatehouse migrate

-- Part 2 (after each `gatehouse migrate`, as gatehouse_owner or a superuser) ---------
grant usage on schema public to gatehouse_app;
grant select, insert, update, delete on all tables in schema public to gatehouse_app;
grant usage, select on all sequences in schema public to gatehouse_app;

-- The audit log: read and append only. The sequencer deletes from audit_queue the events it
-- has chained, so that table keeps DELETE.
revoke update, delete, truncate, references, trigger on audit_events from gatehouse_app;
-- Checkpoints of the log: read and append only, like the events they vouch for.
revoke update, delete, truncate, references, trigger on audit_checkpoints from gatehouse_app;
-- The Merkle tree over the events (docs/merkle.md): written by the sequencer, never changed.
revoke update, delete, truncate, references, trigger on audit_tree from gatehouse_app;
-- Witnesses' cosignatures (docs/merkle.md §12): the app reads them, never changes them.
revoke update, delete, truncate, references, trigger on audit_cosignatures from gatehouse_app;
-- The app checks which migrations are applied but never records one.
revoke insert, update, delete, truncate on kysely_migration, kysely_migration_lock from gatehouse_app;
-- Nobody else gets anything by default.
revoke all on all tables in schema public from public;

-- Part 3 (optional): a witness run by an auditor (`gatehouse audit witness`, docs/merkle.md §12).
-- It reads the log and its checkpoints, and may add rows to audit_cosignatures, nothing else.
-- Create its role once, as a superuser: create role gatehouse_witness login password '…';
-- Without that role this part does nothing.
do $$
begin
  if exists (select from pg_roles where rolname = 'gatehouse_witness') then
    grant usage on schema public to gatehouse_witness;
    grant select on audit_events, audit_tree, audit_checkpoints, gatehouse_meta, kysely_migration, kysely_migration_lock to gatehouse_witness;
    grant insert on audit_cosignatures to gatehouse_witness;
  end if;
end
$$;
