import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

/**
 * The RFC 6962 Merkle tree over the audit events (docs/merkle.md, issue 16): `audit_tree`
 * holds the hash of every complete subtree of 64 leaves and up, append-only like
 * `audit_events` (the same two ALWAYS triggers), and is filled here for the events already
 * chained. From then on the sequencer writes each node in the batch that completes it.
 *
 * The fill reads the log in pages of 65,536 events and keeps one pending left node per
 * level, so a log of a million events costs about two million SHA-256s and 31,000 rows.
 * It is written out here, apart from src/audit/tree/, on purpose: a migration never
 * changes, and a second implementation is a check on the first (test/merkle.test.ts).
 */
const STORED_LEVEL = 6;
const BLOCK = 2 ** STORED_LEVEL;
const PAGE = 1024 * BLOCK;

const sha256 = (...parts: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};
const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_tree (
      level smallint not null check (level between ${sql.lit(STORED_LEVEL)} and 62),
      index bigint   not null check (index >= 0),
      hash  bytea    not null check (octet_length(hash) = 32),
      constraint audit_tree_pkey primary key (level, index)
    )
  `.execute(db);
  await sql`
    create function audit_tree_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_tree is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege',
              hint = 'The tree is derived from the audit events, which never change; nothing in it is ever rewritten.';
    end
    $$
  `.execute(db);
  await sql`
    create trigger audit_tree_no_update_delete before update or delete on audit_tree
    for each row execute function audit_tree_refuse_change()
  `.execute(db);
  await sql`
    create trigger audit_tree_no_truncate before truncate on audit_tree
    for each statement execute function audit_tree_refuse_change()
  `.execute(db);
  await sql`alter table audit_tree enable always trigger audit_tree_no_update_delete`.execute(db);
  await sql`alter table audit_tree enable always trigger audit_tree_no_truncate`.execute(db);

  // What a proof or the sequencer reads, in one call: plpgsql keeps the statement's plan for
  // the session, which saves planning it each time (half of a proof's time in the database).
  // src/audit/tree/read.ts says what each part is.
  await sql`
    create function audit_tree_read(
      want_head boolean, want_top boolean, node_levels smallint[], node_indexes bigint[],
      leaves_after bigint[], leaves_through bigint[], event_seq bigint
    ) returns table (kind text, level integer, index bigint, hash bytea, canonical text, prev_hash bytea)
    language plpgsql stable as $$
    #variable_conflict use_column
    begin
      return query
        select 'head', 0, coalesce((select max(e.seq) from audit_events e), 0), null::bytea, null::text, null::bytea
        where want_head
        union all
        select 'top', 0, coalesce((select max(t.index) + 1 from audit_tree t where t.level = ${sql.lit(STORED_LEVEL)}), 0),
               null, null, null
        where want_top
        union all
        select 'node', w.level::integer, w.index, t.hash, null, null
        from unnest(node_levels, node_indexes) as w(level, index)
        cross join lateral (select t.hash from audit_tree t where t.level = w.level and t.index = w.index) as t
        union all
        select 'leaf', 0, e.seq, e.hash, null, null
        from unnest(leaves_after, leaves_through) as r(lo, hi)
        cross join lateral (select e.seq, e.hash from audit_events e where e.seq > r.lo and e.seq <= r.hi) as e
        union all
        select 'event', 0, e.seq, e.hash, e.canonical, e.prev_hash from audit_events e where e.seq = event_seq;
    end
    $$
  `.execute(db);

  const head = await sql<{ seq: string | number | null }>`select max(seq) as seq from audit_events`.execute(db);
  const complete = Math.floor(Number(head.rows[0]?.seq ?? 0) / BLOCK) * BLOCK;
  // pending[level]: the hash of the last even-index node of that level, waiting for its right sibling.
  const pending: Buffer[] = [];
  for (let from = 0; from < complete; from += PAGE) {
    const to = Math.min(from + PAGE, complete);
    const { rows } = await sql<{ seq: string | number; hash: Buffer }>`
      select seq, hash from audit_events where seq > ${from} and seq <= ${to} order by seq
    `.execute(db);
    if (rows.length !== to - from)
      throw new Error(
        `audit_events is missing events between seq ${from + 1} and ${to}: the log has gaps (run \`gatehouse audit verify\`), and no tree can be built over it`,
      );
    const levels: number[] = [];
    const indexes: number[] = [];
    const hashes: Buffer[] = [];
    for (let block = 0; block < rows.length; block += BLOCK) {
      let level = 0;
      let row = rows.slice(block, block + BLOCK).map((r) => sha256(LEAF, r.hash));
      for (; row.length > 1; level++)
        row = row.flatMap((h, i) => (i % 2 === 0 ? [sha256(NODE, h, row[i + 1] as Buffer)] : []));
      let index = (from + block) / BLOCK;
      let hash = row[0] as Buffer;
      for (;;) {
        levels.push(level);
        indexes.push(index);
        hashes.push(hash);
        if (index % 2 === 0) break;
        hash = sha256(NODE, pending[level] as Buffer, hash);
        index = (index - 1) / 2;
        level += 1;
      }
      pending[level] = hash;
    }
    await sql`
      insert into audit_tree (level, index, hash)
      select * from unnest(${levels}::smallint[], ${indexes}::bigint[], ${hashes}::bytea[])
    `.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function audit_tree_read(boolean, boolean, smallint[], bigint[], bigint[], bigint[], bigint)`.execute(
    db,
  );
  await sql`drop table audit_tree`.execute(db);
  await sql`drop function audit_tree_refuse_change()`.execute(db);
}
