import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { sql } from 'kysely';
import { roleNameFor } from '../src/provisioners/postgres.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { contractorId, contractorsGroup, OWNERS, startBenchGatehouse, type BenchGatehouse } from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import {
  EXPIRY_READONLY_ROLE,
  ExpiryTarget,
  HeldSession,
  type Credentials,
  type RevokeAlone,
} from './expiry-target.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { busyPercent, machineCpu, waitForQuiet } from './machine-cpu.ts';
import { summarize, type Summary } from './percentiles.ts';

/** Added to the spread to make each grant's duration: room for creation to finish before the first is due. */
const LEAD_SECONDS = 30;
/** Requests and approvals in flight at once, at most (only reached when the spread is short). */
const CREATE_CONCURRENCY = 16;
const TARGET_ENV = 'GATEHOUSE_BENCH_EXPIRY_TARGET_URL';
/** The bench's copy of each sealed credential, kept before the holder's DM clears it. */
const SEALED_TABLE = 'gatehouse_bench_sealed';
/** The lease a claim to end a grant takes (src/access/grants.ts): a revoke later than this waited for the retry sweep. */
const LEASE_SECONDS = 60;
/** Revokes timed alone after a `postgres` run, with a session and without. */
const REVOKES_ALONE = 20;

export type ExpiryProvisioner = 'none' | 'postgres';

/** One way of ending the grants: which provisioner, and whether the expiry timer runs (or only the sweep's tick). */
export interface ExpiryVariant {
  name: string;
  provisioner: ExpiryProvisioner;
  timer: boolean;
}

export const EXPIRY_VARIANTS: readonly ExpiryVariant[] = [
  { name: 'none', provisioner: 'none', timer: true },
  { name: 'none-tick', provisioner: 'none', timer: false },
  { name: 'postgres', provisioner: 'postgres', timer: true },
  { name: 'postgres-tick', provisioner: 'postgres', timer: false },
];

/** `none,none-tick,…` (BENCH_EXPIRY_VARIANTS) as variants, in that order. */
export function parseExpiryVariants(list: string): ExpiryVariant[] {
  return list.split(',').map((name) => {
    const variant = EXPIRY_VARIANTS.find((v) => v.name === name.trim());
    if (!variant)
      throw new Error(
        `BENCH_EXPIRY_VARIANTS: unknown variant "${name}"; choose from ${EXPIRY_VARIANTS.map((v) => v.name).join(', ')}`,
      );
    return variant;
  });
}

/** The sessions held open across the end of `postgres` grants. */
export interface SessionResults {
  /** Asked for (BENCH_EXPIRY_SESSIONS), and what the cluster's max_connections left room for. */
  wanted: number;
  maxConnections: number;
  /** Connections open on the cluster when the sessions were planned (the app's included). */
  inUse: number;
  /** Opened with the app's credentials and read the table before the end. */
  held: number;
  openFailed: number;
  firstOpenError: string | null;
  /** From `ends_at` to the moment the holder's client heard its session end, ms. */
  cut: Summary;
  /** After every grant ended: sessions whose next query failed (cut), and those that still answered. */
  nextQueryFailed: number;
  survived: number;
  /** `sessions_ended` added up over the `grant.revoked` events: what the app recorded. */
  sessionsEndedRecorded: number;
  /** Of the run's login roles: how many are left in the target, and their sessions. */
  rolesMade: number;
  rolesLeft: number;
  sessionsLeft: number;
  /** After the run, the app stopped: the provisioner's revoke alone, one at a time. */
  revokeAlone: RevokeAlone | null;
}

export interface ExpiryResults {
  variant: ExpiryVariant;
  grants: number;
  /** Every grant lasts this long; they are created over `spreadSeconds`. */
  durationSeconds: number;
  spreadSeconds: number;
  /** Seconds the requests and approvals took in all. */
  createSeconds: number;
  /** Seconds from the last grant created to the first grant due (negative: they overlapped). */
  headroomSeconds: number;
  /** Seconds from the first grant due to the last one due. */
  endsSpanSeconds: number;
  /** `ended_at - ends_at`, ms. */
  lag: Summary;
  /** From `ends_at` to the `grant.ending` event (the claim, by the timer or the sweep), ms. */
  claimLag: Summary;
  /** From the `grant.ending` event to `ended_at` (revoke and commit), ms. */
  revokeTime: Summary;
  /**
   * Grants claimed (`grant.ending`) but revoked only when their claim's lease ran out and
   * the retry sweep took them: `revokeTime` over LEASE_SECONDS.
   */
  leftToLease: number;
  sessions: SessionResults | null;
  /** From the first grant due to the last one ended: how busy the machine was, and its load averages (1, 5, 15 min) either side. */
  machine: { busyPercent: number | null; loadBefore: number[]; loadAfter: number[] };
  statuses: Record<string, number>;
  endReasons: Record<string, number>;
  outbox: { total: number; done: number };
  audit: { head: number; posted: number };
  slack: SlackCounts;
  problems: Record<string, number>;
}

const POLICY = (contractors: number, provisioner: ExpiryProvisioner) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
resources:
  - id: bench-expiry
    name: Expiry benchmark
    owners: [${OWNERS[0]}]
    requesters: [contractors]
    default_duration: 1m
    max_duration: 1h
    approvals_required: 1
    provisioner: ${provisioner === 'none' ? '{ kind: none }' : `{ kind: postgres, connection_env: ${TARGET_ENV}, roles: [${EXPIRY_READONLY_ROLE}] }`}
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The grants of a run that hold a session: `count` of `grants`, spread evenly (0, 20, 40 … for 50 of 1,000). */
function sampled(grants: number, count: number): Set<number> {
  return new Set(Array.from({ length: count }, (_, k) => Math.floor((k * grants) / count)));
}

/**
 * Keeps a copy of each grant's sealed credentials as it is stored, in a table of the
 * bench's own: the holder's direct message clears `delivery_secret` as soon as it is
 * sent, often before the bench could read it. A trigger the bench adds after the app's
 * migrations, as bench/provision.ts adds its own.
 */
async function keepSealedCredentials(app: BenchGatehouse): Promise<(grantId: string) => Promise<Buffer | null>> {
  const db = app.gatehouse.database.db;
  await sql`create table ${sql.table(SEALED_TABLE)} (grant_id text primary key, sealed bytea not null)`.execute(db);
  await sql`
    create or replace function gatehouse_bench_keep_sealed() returns trigger language plpgsql as $$
    begin
      insert into ${sql.table(SEALED_TABLE)} values (new.id, new.delivery_secret) on conflict (grant_id) do update set sealed = excluded.sealed;
      return null;
    end $$`.execute(db);
  await sql`create trigger gatehouse_bench_keep_sealed after update of delivery_secret on grants for each row when (new.delivery_secret is not null) execute function gatehouse_bench_keep_sealed()`.execute(
    db,
  );
  return async (grantId) => {
    const { rows } = await sql<{
      sealed: Buffer;
    }>`select sealed from ${sql.table(SEALED_TABLE)} where grant_id = ${grantId}`.execute(db);
    return rows[0]?.sealed ?? null;
  };
}

export interface ExpiryOptions {
  grants: number;
  spreadSeconds: number;
  variant: ExpiryVariant;
  /** `postgres` only: sessions to hold open across the end, if the cluster has room. */
  sessions: number;
}

/**
 * Expiry lag: `grants` grants, each filed and approved through the running app's own
 * AccessService (so each is provisioned and active, with its audit events and
 * notifications), created at an even pace over `spreadSeconds` (0: as fast as they can
 * be). All last the same time, so they fall due over the span they were created in. The
 * app ends them by itself: its expiry timer, or (GATEHOUSE_EXPIRY_TIMER=false) only the
 * sweep's tick; nothing else touches them. For `postgres` grants the target is a
 * database on the bench cluster, provisioned by a least-privilege admin, and a sample of
 * the grants' holders keep a session open across the end, which the revoke must cut.
 */
export async function benchExpiry(server: BenchServer, options: ExpiryOptions): Promise<ExpiryResults> {
  const { grants, spreadSeconds, variant } = options;
  const durationSeconds = spreadSeconds + LEAD_SECONDS;
  const postgres = variant.provisioner === 'postgres';
  const slack = await FakeSlackProcess.start();
  const name = 'gatehouse_bench_expiry';
  let target: ExpiryTarget | null = null;
  const held: HeldSession[] = [];
  const roles: string[] = [];
  const previousTarget = process.env[TARGET_ENV];
  try {
    const env: Record<string, string> = { GATEHOUSE_EXPIRY_TIMER: String(variant.timer) };
    const secretsKey = randomBytes(32).toString('hex');
    if (postgres) {
      target = await ExpiryTarget.start(server);
      // The provisioner reads its connection string from the environment, as in production.
      process.env[TARGET_ENV] = target.adminUrl;
      env.GATEHOUSE_SECRETS_KEY = secretsKey;
    }
    const databaseUrl = await server.freshDatabase(name);
    const app = await startBenchGatehouse({ databaseUrl, policy: POLICY(grants, variant.provisioner), slack, env });
    const { access, database, audit } = app.gatehouse;
    const db = database.db;
    let problems: Record<string, number> = {};
    let measured: Omit<ExpiryResults, 'slack' | 'problems'>;
    try {
      const sealedOf = postgres ? await keepSealedCredentials(app) : null;
      const box = SecretBox.fromEnv(secretsKey)!;
      const room = target ? await target.sessionRoom(options.sessions) : null;
      const holders = sampled(grants, room?.sessions ?? 0);
      const openErrors: string[] = [];
      await waitForQuiet();
      const started = performance.now();
      let inFlight = 0;
      await Promise.all(
        Array.from({ length: grants }, async (_, i) => {
          await sleep((i * spreadSeconds * 1000) / grants);
          while (inFlight >= CREATE_CONCURRENCY) await sleep(1);
          inFlight += 1;
          const requested = await access.request({
            requester: contractorId(i),
            resourceId: 'bench-expiry',
            duration: `${durationSeconds}s`,
            reason: `expiry benchmark ${i}`,
          });
          if (!requested.ok) throw new Error(`request ${i} refused: ${requested.refusal.kind}`);
          const approved = await access.approve(requested.request.id, OWNERS[0]);
          if (!approved.ok || approved.grant?.status !== 'active')
            throw new Error(`grant ${i} not active after approval: ${JSON.stringify(approved)}`);
          if (postgres) roles.push(roleNameFor(approved.grant.id));
          if (sealedOf && holders.has(i)) {
            // The holder logs in with what the app made for them, and stays connected.
            try {
              const sealed = await sealedOf(approved.grant.id);
              if (!sealed) throw new Error(`no sealed credentials kept for grant ${approved.grant.id}`);
              const credentials = JSON.parse(box.open(sealed, approved.grant.id)) as Credentials;
              held.push(await HeldSession.open(credentials, approved.grant.endsAt));
            } catch (err) {
              openErrors.push((err as Error).message);
            }
          }
          inFlight -= 1;
        }),
      );
      const createSeconds = (performance.now() - started) / 1000;
      const createdAt = Date.now();
      const bounds = await sql<{
        first: Date;
        last: Date;
      }>`select min(ends_at) as first, max(ends_at) as last from grants`.execute(db);
      const first = bounds.rows[0]!.first;
      const last = bounds.rows[0]!.last;
      console.error(
        `  ${variant.name}: ${grants} grants active after ${createSeconds.toFixed(1)} s${room ? `, ${held.length} sessions held` : ''}; due from ${first.toISOString()} to ${last.toISOString()}`,
      );

      // From the first due to the last ended (or a minute after the last was due): how busy the machine was.
      await sleep(Math.max(0, first.getTime() - Date.now()));
      const loadBefore = os.loadavg();
      const cpuBefore = await machineCpu();
      const deadline = last.getTime() + 60_000;
      const ended = async () =>
        Number(
          (await sql<{ n: string }>`select count(*) as n from grants where status = 'ended'`.execute(db)).rows[0]?.n,
        );
      while ((await ended()) < grants && Date.now() < deadline) await sleep(250);
      const machine = { busyPercent: busyPercent(cpuBefore, await machineCpu()), loadBefore, loadAfter: os.loadavg() };
      await audit.flush();

      const lags = await sql<{ id: string; ends_at: Date; lag: number; claim: number | null; revoke: number | null }>`
        select g.id, g.ends_at,
               extract(epoch from g.ended_at - g.ends_at) * 1000 as lag,
               extract(epoch from e.occurred_at - g.ends_at) * 1000 as claim,
               extract(epoch from g.ended_at - e.occurred_at) * 1000 as revoke
        from grants g
        left join audit_log e on e.subject = g.id and e.action = 'grant.ending'
        where g.status = 'ended'`.execute(db);
      if (process.env.BENCH_EXPIRY_DUMP) {
        // One line per grant, for a closer look at where the lag goes.
        const cuts = new Map(held.map((session) => [session.endsAt, session.cutAt]));
        const lines = lags.rows.map((r) =>
          [
            r.id,
            r.ends_at.toISOString(),
            Number(r.claim).toFixed(1),
            Number(r.revoke).toFixed(1),
            Number(r.lag).toFixed(1),
            cuts.has(r.ends_at.getTime())
              ? String((cuts.get(r.ends_at.getTime()) ?? Number.NaN) - r.ends_at.getTime())
              : '',
          ].join(','),
        );
        const file = `${process.env.BENCH_EXPIRY_DUMP}-${variant.name}-${spreadSeconds}s.csv`;
        await fs.writeFile(
          file,
          ['grant,ends_at,claim_ms,revoke_ms,lag_ms,session_cut_ms', ...lines].join('\n') + '\n',
        );
        console.error(`  each grant's times: ${file}`);
      }
      const counts = async (column: 'status' | 'end_reason') =>
        Object.fromEntries(
          (
            await sql<{
              key: string | null;
              n: string;
            }>`select ${sql.ref(column)} as key, count(*) as n from grants group by 1`.execute(db)
          ).rows.map((r) => [r.key ?? 'none', Number(r.n)]),
        );
      const outbox = await sql<{
        total: string;
        done: string;
      }>`select count(*) as total, count(done_at) as done from outbox`.execute(db);
      const head = await sql<{
        head: string | null;
        posted: string;
      }>`select (select max(seq) from audit_events) as head, (select posted_seq from audit_channel_state) as posted`.execute(
        db,
      );
      const numbers = (pick: (row: { lag: number; claim: number | null; revoke: number | null }) => number | null) =>
        lags.rows
          .map(pick)
          .filter((v): v is number => v !== null)
          .map(Number);

      let sessions: SessionResults | null = null;
      if (target && room) {
        const cutLags = held.filter((s) => s.cutAt !== null).map((s) => s.cutAt! - s.endsAt);
        let nextQueryFailed = 0;
        for (const session of held) if (await session.nextQueryFails()) nextQueryFailed += 1;
        const recorded = await sql<{
          n: number | null;
        }>`select sum((body->>'sessions_ended')::int)::int as n from audit_log where action = 'grant.revoked'`.execute(
          db,
        );
        const left = await target.left(roles);
        sessions = {
          wanted: options.sessions,
          maxConnections: room.maxConnections,
          inUse: room.inUse,
          held: held.length,
          openFailed: openErrors.length,
          firstOpenError: openErrors[0] ?? null,
          cut: summarize(cutLags),
          nextQueryFailed,
          survived: held.length - nextQueryFailed,
          sessionsEndedRecorded: recorded.rows[0]?.n ?? 0,
          rolesMade: roles.length,
          rolesLeft: left.roles,
          sessionsLeft: left.sessions,
          revokeAlone: null,
        };
      }
      measured = {
        variant,
        grants,
        durationSeconds,
        spreadSeconds,
        createSeconds,
        headroomSeconds: (first.getTime() - createdAt) / 1000,
        endsSpanSeconds: (last.getTime() - first.getTime()) / 1000,
        lag: summarize(numbers((r) => r.lag)),
        claimLag: summarize(numbers((r) => r.claim)),
        revokeTime: summarize(numbers((r) => r.revoke)),
        leftToLease: numbers((r) => r.revoke).filter((v) => v >= LEASE_SECONDS * 1000).length,
        sessions,
        machine,
        statuses: await counts('status'),
        endReasons: await counts('end_reason'),
        outbox: { total: Number(outbox.rows[0]?.total), done: Number(outbox.rows[0]?.done) },
        audit: { head: Number(head.rows[0]?.head ?? 0), posted: Number(head.rows[0]?.posted) },
      };
    } finally {
      problems = await app.stop();
    }
    if (target && measured.sessions) {
      await waitForQuiet();
      measured.sessions.revokeAlone = await target.timeRevokes(REVOKES_ALONE);
    }
    await server.dropDatabase(name);
    return { ...measured, slack: await slack.counts(), problems };
  } finally {
    for (const session of held) await session.close();
    if (previousTarget === undefined) delete process.env[TARGET_ENV];
    else process.env[TARGET_ENV] = previousTarget;
    await target?.stop(roles);
    await slack.stop();
  }
}
