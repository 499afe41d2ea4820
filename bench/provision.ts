/**
 * Approval click to provisioned: an owner's signed Approve click, sent as Slack sends it,
 * until the grant's `status = 'active'` is committed. For a resource with the `postgres`
 * provisioner (a login role in a target database on the same cluster), beside the same
 * click for a `none` resource (Gatehouse without a target) and the provisioning SQL run
 * directly with pg (the target without Gatehouse). Results: docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import type { Db } from '../src/db/database.ts';
import { roleNameFor } from '../src/provisioners/postgres.ts';
import { SecretBox } from '../src/secrets/sealed.ts';
import { ACTION, BLOCK } from '../src/slack/blocks/ids.ts';
import { APP_ID, TEAM_DOMAIN, TEAM_ID } from '../src/sandbox/fake-slack/protocol.ts';
import {
  BENCH_SIGNING_SECRET,
  contractorId,
  contractorsGroup,
  OWNERS,
  startBenchGatehouse,
} from './bench-gatehouse.ts';
import type { BenchServer } from './cluster.ts';
import { FakeSlackProcess, type SlackCounts } from './fake-slack-process.ts';
import { busyPercent, machineCpu, waitForQuiet } from './machine-cpu.ts';
import { counts, fmt, ms } from './format.ts';
import { percentile } from './percentiles.ts';
import { sendSigned } from './signed-post.ts';

/** Rounds before the counted ones, not counted: JIT, pools, the target's first connections. */
export const PROVISION_WARMUP_ROUNDS = 5;
/** A click whose grant is not active (or failed) by then stops the benchmark. */
const CLICK_TIMEOUT_MS = 30_000;
/** How long to wait, at most, for the outbox to drain between clicks. */
const SETTLE_TIMEOUT_MS = 10_000;
/** The notifications channel the bench's trigger on `grants` uses. */
const CHANNEL = 'gatehouse_bench_grants';
const TARGET_ENV = 'GATEHOUSE_BENCH_TARGET_URL';
/** Cluster-wide names: the bench's own. */
const READONLY_ROLE = 'gatehouse_bench_readonly';
const RAW_ROLE_PREFIX = 'bench_raw_';
const OWNER = OWNERS[0];

export interface Stats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => percentile(sorted, p);
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.at(-1) ?? Number.NaN };
}

type Kind = 'postgres' | 'none';

/** One click's times, ms from sending it. */
interface Click {
  /** The end of the HTTP response (Bolt answers at `ack()`). */
  ack: number;
  /** The approval transaction committed: the grant row exists, status `provisioning`. */
  approved: number;
  /** The grant claimed for provisioning (its first attempt committed). */
  claimed: number;
  /** `status = 'active'` committed. */
  active: number;
}

export interface KindResults {
  total: Stats;
  ack: Stats;
  /** click → approval committed */
  approve: Stats;
  /** approval committed → claimed */
  claim: Stats;
  /** claimed → active committed: the provisioner's work and the commit. */
  provision: Stats;
  failed: number;
}

export interface ProvisionResults {
  grants: number;
  warmupRounds: number;
  kinds: Record<Kind, KindResults>;
  /** The provisioner's statements run directly with pg on a warm connection, ms. */
  rawSql: Stats;
  /** Its statements: `begin` and the existence check, `create role … password … valid until`, `grant`, `commit`. */
  rawSteps: Record<'begin' | 'create' | 'grant' | 'commit', Stats>;
  /** Seconds the counted rounds took, with filing and settling between clicks. */
  seconds: number;
  machineBusyPercent: number | null;
  eventLoopDelay: { p99: number; max: number };
  /** Logins tried with the credentials the app sealed for the holder (before their DM cleared them). */
  logins: { ok: number; failed: number; alreadyDelivered: number };
  /** Roles of `postgres` grants found at the end with LOGIN, VALID UNTIL and membership of the read-only role. */
  rolesInPlace: number;
  postgresGrants: number;
  /** Times the outbox had not drained within the settle timeout. */
  settleTimeouts: number;
  slack: SlackCounts;
  problems: Record<string, number>;
  target: string;
}

const POLICY = (contractors: number) => `
audit_channel: C0AUDIT01
groups:
  ${contractorsGroup(contractors)}
resources:
  - id: bench-none
    name: Provision benchmark (no target)
    owners: [${OWNER}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 1
    provisioner: { kind: none }
  - id: bench-postgres
    name: Provision benchmark (PostgreSQL)
    owners: [${OWNER}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 1
    provisioner: { kind: postgres, connection_env: ${TARGET_ENV}, roles: [${READONLY_ROLE}] }
`;

const RESOURCE: Record<Kind, string> = { postgres: 'bench-postgres', none: 'bench-none' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** The block_actions body of the owner clicking Approve on the approval card at `card`. */
function approveClickBody(
  requestId: string,
  card: { channel: string; ts: string },
  responseUrl: string,
  n: number,
): string {
  const payload = {
    type: 'block_actions',
    user: { id: OWNER, username: OWNER.toLowerCase(), name: OWNER.toLowerCase(), team_id: TEAM_ID },
    api_app_id: APP_ID,
    token: 'bench-verification-token',
    container: { type: 'message', message_ts: card.ts, channel_id: card.channel, is_ephemeral: false },
    trigger_id: `bench.approve.${n}.${OWNER}`,
    team: { id: TEAM_ID, domain: TEAM_DOMAIN },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: card.channel, name: card.channel.startsWith('D') ? 'directmessage' : card.channel.toLowerCase() },
    message: { type: 'message', ts: card.ts, text: 'Access request' },
    state: { values: {} },
    response_url: responseUrl,
    actions: [
      {
        type: 'button',
        action_id: ACTION.approve,
        block_id: BLOCK.approvalActions,
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        style: 'primary',
        value: requestId,
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * Commit times of the grants' changes, from a trigger the bench adds to the app's
 * `grants` table (after the app's migrations): NOTIFY is delivered at commit, so each
 * mark is the moment a commit became visible to this listening session, with no polling.
 */
class GrantWatcher {
  private readonly marks = new Map<string, { approved?: number; claimed?: number; active?: number; failed?: number }>();
  private readonly waiters = new Map<string, () => void>();

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (message) => {
      const now = performance.now();
      const [requestId = '', status, attempts] = (message.payload ?? '').split(' ');
      const marks = this.marks.get(requestId);
      if (!marks) return;
      if (status === 'provisioning' && attempts === '0') marks.approved ??= now;
      else if (status === 'provisioning') marks.claimed ??= now;
      else if (status === 'active') marks.active ??= now;
      else if (status === 'provision_failed') marks.failed ??= now;
      if (marks.active !== undefined || marks.failed !== undefined) this.waiters.get(requestId)?.();
    });
  }

  static async start(databaseUrl: string, db: Db): Promise<GrantWatcher> {
    await sql`
      create or replace function gatehouse_bench_grant_notify() returns trigger language plpgsql as $$
      begin
        perform pg_notify(${sql.lit(CHANNEL)}, new.request_id || ' ' || new.status || ' ' || new.attempts);
        return null;
      end $$`.execute(db);
    await sql`create trigger gatehouse_bench_grant_notify after insert or update on grants for each row execute function gatehouse_bench_grant_notify()`.execute(
      db,
    );
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'gatehouse-bench-listener' });
    await client.connect();
    await client.query(`listen ${CHANNEL}`);
    return new GrantWatcher(client);
  }

  /** Call before the click; resolves when the grant is active or has failed, or rejects after the timeout. */
  watch(requestId: string): Promise<{ approved?: number; claimed?: number; active?: number; failed?: number }> {
    const marks = {};
    this.marks.set(requestId, marks);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        reject(new Error(`request ${requestId}: no active grant ${CLICK_TIMEOUT_MS / 1000} s after the Approve click`));
      }, CLICK_TIMEOUT_MS);
      this.waiters.set(requestId, () => {
        clearTimeout(timer);
        this.waiters.delete(requestId);
        this.marks.delete(requestId);
        resolve(marks);
      });
    });
  }

  stop(): Promise<void> {
    return this.client.end();
  }
}

/**
 * `grants` rounds (after PROVISION_WARMUP_ROUNDS not counted), one click at a time. Each
 * round: a `none` grant and a `postgres` grant (in alternating order, so drifting load
 * falls on both alike), then the provisioning SQL alone. Before each click its request is
 * filed through the app's AccessService (by a contractor of its own) and the app is left
 * to deliver its notifications, so a click meets an app with nothing in flight: the
 * latency is the approval's own, not a queue's.
 */
export async function benchProvision(server: BenchServer, grants: number): Promise<ProvisionResults> {
  const rounds = PROVISION_WARMUP_ROUNDS + grants;
  const contractors = rounds * 2;
  const secretsKey = randomBytes(32).toString('hex');
  const box = SecretBox.fromEnv(secretsKey)!;
  const appDbName = 'gatehouse_bench_provision';
  const targetDbName = 'gatehouse_bench_target';
  const slack = await FakeSlackProcess.start();
  const targetUrl = await server.freshDatabase(targetDbName);
  const target = new pg.Pool({ connectionString: targetUrl, max: 1, application_name: 'gatehouse-bench-raw' });
  target.on('error', () => undefined);
  const rawRoles: string[] = [];
  const grantRoles: string[] = [];
  try {
    // The target: a table the read-only role may read, as a real one would have.
    await target.query(`drop role if exists ${READONLY_ROLE}`);
    await target.query(`create role ${READONLY_ROLE} nologin`);
    await target.query('create table bench_rows (id int primary key, note text)');
    await target.query(`insert into bench_rows select g, 'row ' || g from generate_series(1, 100) g`);
    await target.query(`grant select on bench_rows to ${READONLY_ROLE}`);

    const databaseUrl = await server.freshDatabase(appDbName);
    // The provisioner reads its connection string from the environment at each grant, as in
    // production: set for the app's life (restored below).
    const previousTarget = process.env[TARGET_ENV];
    const restoreEnv = () => {
      if (previousTarget === undefined) delete process.env[TARGET_ENV];
      else process.env[TARGET_ENV] = previousTarget;
    };
    process.env[TARGET_ENV] = targetUrl;
    let app: Awaited<ReturnType<typeof startBenchGatehouse>>;
    try {
      app = await startBenchGatehouse({
        databaseUrl,
        policy: POLICY(contractors),
        slack,
        env: { GATEHOUSE_SECRETS_KEY: secretsKey },
      });
    } catch (err) {
      restoreEnv();
      throw err;
    }
    const { access, database } = app.gatehouse;
    const db = database.db;
    const eventsUrl = new URL(app.eventsUrl);
    let problems: Record<string, number> = {};
    let measured: Omit<ProvisionResults, 'slack' | 'problems' | 'target'>;
    let watcher: GrantWatcher | null = null;
    try {
      watcher = await GrantWatcher.start(databaseUrl, db);
      const grantWatcher = watcher;
      const responseIds = Array.from({ length: contractors }, (_, i) => ({
        id: `provision-approve-${i}`,
        userId: OWNER,
      }));
      await slack.registerResponseUrls(responseIds);

      let settleTimeouts = 0;
      /** Until the outbox has delivered everything due (cards, DMs, home refreshes). */
      const settle = async () => {
        const deadline = performance.now() + SETTLE_TIMEOUT_MS;
        for (;;) {
          const { rows } = await sql<{
            n: number;
          }>`select count(*)::int as n from outbox where done_at is null and next_attempt_at <= now() + interval '2 seconds'`.execute(
            db,
          );
          if (rows[0]?.n === 0) return;
          if (performance.now() > deadline) {
            settleTimeouts += 1;
            return;
          }
          await sleep(5);
        }
      };

      const clicks: Record<Kind, Click[]> = { postgres: [], none: [] };
      const failed: Record<Kind, number> = { postgres: 0, none: 0 };
      const rawMs: number[] = [];
      const rawSteps = { begin: [] as number[], create: [] as number[], grant: [] as number[], commit: [] as number[] };
      const logins = { ok: 0, failed: 0, alreadyDelivered: 0 };
      let n = 0;
      let failures = 0;

      const clickOnce = async (kind: Kind, counted: boolean) => {
        const index = n++;
        const filed = await access.request({
          requester: contractorId(index),
          resourceId: RESOURCE[kind],
          duration: '1h',
          reason: `provision benchmark ${index}`,
        });
        if (!filed.ok) throw new Error(`request ${index} refused: ${filed.refusal.kind}`);
        const requestId = filed.request.id;
        await settle();
        const card = await db
          .selectFrom('approval_cards')
          .select(['channel', 'ts'])
          .where('request_id', '=', requestId)
          .where('owner', '=', OWNER)
          .executeTakeFirst();
        const body = approveClickBody(
          requestId,
          card ?? { channel: `D${OWNER}`, ts: `${Math.floor(Date.now() / 1000)}.000100` },
          slack.responseUrl(`provision-approve-${index}`),
          index,
        );

        const done = grantWatcher.watch(requestId);
        const sent = performance.now();
        const { outcome } = await sendSigned(eventsUrl, BENCH_SIGNING_SECRET, body, {
          agent,
          timeoutMs: CLICK_TIMEOUT_MS,
        });
        const acked = performance.now() - sent;
        if (outcome !== '200')
          throw new Error(
            `the Approve click of request ${requestId} got ${/^\d+$/.test(outcome) ? `HTTP ${outcome}` : outcome}`,
          );
        const marks = await done;
        if (marks.failed !== undefined || marks.active === undefined) {
          if (counted) failed[kind] += 1;
          const why = await db
            .selectFrom('grants')
            .select('last_error')
            .where('request_id', '=', requestId)
            .executeTakeFirst();
          if (++failures <= 3)
            console.error(`  ${kind} grant of request ${requestId} failed: ${why?.last_error ?? 'no error recorded'}`);
        } else if (counted) {
          clicks[kind].push({
            ack: acked,
            approved: (marks.approved ?? Number.NaN) - sent,
            claimed: (marks.claimed ?? Number.NaN) - sent,
            active: marks.active - sent,
          });
        }

        // After the clock: the credentials the holder will be sent work (when their DM has not taken them already).
        const grant = await db
          .selectFrom('grants')
          .select(['id', 'delivery_secret'])
          .where('request_id', '=', requestId)
          .executeTakeFirst();
        if (kind === 'postgres' && grant) {
          grantRoles.push(roleNameFor(grant.id));
          if (!grant.delivery_secret) logins.alreadyDelivered += 1;
          else {
            const credentials = JSON.parse(box.open(grant.delivery_secret, grant.id)) as {
              host: string;
              port: string;
              database: string;
              user: string;
              password: string;
            };
            const client = new pg.Client({
              ...credentials,
              port: Number(credentials.port),
              connectionTimeoutMillis: 5000,
            });
            client.on('error', () => undefined);
            try {
              await client.connect();
              const { rows } = await client.query<{ n: number }>('select count(*)::int as n from bench_rows');
              if (rows[0]?.n === 100) logins.ok += 1;
              else logins.failed += 1;
            } catch {
              logins.failed += 1;
            } finally {
              await client.end().catch(() => undefined);
            }
          }
        }
        await settle();
      };

      /** The provisioner's statements, on a warm connection of its own. */
      const rawOnce = async (name: string, counted: boolean) => {
        const role = `${RAW_ROLE_PREFIX}${name}`;
        rawRoles.push(role);
        const password = randomBytes(24).toString('base64url');
        const endsAt = new Date(Date.now() + 3_600_000);
        const client = await target.connect();
        const started = performance.now();
        const marks: number[] = [];
        try {
          await client.query('begin');
          const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
          marks.push(performance.now());
          await client.query(
            `${exists ? 'alter' : 'create'} role ${pg.escapeIdentifier(role)} with login password ${pg.escapeLiteral(password)} valid until ${pg.escapeLiteral(endsAt.toISOString())}`,
          );
          marks.push(performance.now());
          await client.query(`grant ${pg.escapeIdentifier(READONLY_ROLE)} to ${pg.escapeIdentifier(role)}`);
          marks.push(performance.now());
          await client.query('commit');
          marks.push(performance.now());
        } finally {
          client.release();
        }
        if (!counted) return;
        rawMs.push(performance.now() - started);
        const [checked = 0, created = 0, granted = 0, committed = 0] = marks;
        rawSteps.begin.push(checked - started);
        rawSteps.create.push(created - checked);
        rawSteps.grant.push(granted - created);
        rawSteps.commit.push(committed - granted);
      };

      for (let round = 0; round < PROVISION_WARMUP_ROUNDS; round++) {
        await clickOnce('none', false);
        await clickOnce('postgres', false);
        await rawOnce(`warmup_${round}`, false);
      }
      await waitForQuiet();
      const delay = monitorEventLoopDelay({ resolution: 5 });
      const before = await machineCpu();
      const started = performance.now();
      delay.enable();
      for (let round = 0; round < grants; round++) {
        const order: Kind[] = round % 2 === 0 ? ['none', 'postgres'] : ['postgres', 'none'];
        for (const kind of order) await clickOnce(kind, true);
        await rawOnce(String(round), true);
        if ((round + 1) % 50 === 0) console.error(`  ${round + 1} of ${grants} rounds`);
      }
      delay.disable();
      const seconds = (performance.now() - started) / 1000;
      const machineBusyPercent = busyPercent(before, await machineCpu());

      const { rows: inPlace } = await target.query<{ n: number }>(
        `select count(*)::int as n from pg_roles r where r.rolname = any($1) and r.rolcanlogin and r.rolvaliduntil > now() and pg_has_role(r.oid, $2, 'member')`,
        [grantRoles, READONLY_ROLE],
      );

      const of = (kind: Kind): KindResults => {
        const list = clicks[kind];
        return {
          total: stats(list.map((c) => c.active)),
          ack: stats(list.map((c) => c.ack)),
          approve: stats(list.map((c) => c.approved)),
          claim: stats(list.map((c) => c.claimed - c.approved)),
          provision: stats(list.map((c) => c.active - c.claimed)),
          failed: failed[kind],
        };
      };
      measured = {
        grants,
        warmupRounds: PROVISION_WARMUP_ROUNDS,
        kinds: { postgres: of('postgres'), none: of('none') },
        rawSql: stats(rawMs),
        rawSteps: {
          begin: stats(rawSteps.begin),
          create: stats(rawSteps.create),
          grant: stats(rawSteps.grant),
          commit: stats(rawSteps.commit),
        },
        seconds,
        machineBusyPercent,
        eventLoopDelay: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
        logins,
        rolesInPlace: inPlace[0]?.n ?? 0,
        postgresGrants: grantRoles.length,
        settleTimeouts,
      };
    } finally {
      await watcher?.stop().catch(() => undefined);
      problems = await app.stop();
      restoreEnv();
    }
    await server.dropDatabase(appDbName);
    const describe = await target.query<{ enc: string }>(`select current_setting('password_encryption') as enc`);
    return {
      ...measured,
      slack: await slack.counts(),
      problems,
      target: `database ${targetDbName} on the same cluster, password_encryption=${describe.rows[0]?.enc}`,
    };
  } finally {
    // Roles are cluster-wide: on a BENCH_DATABASE_URL server they would outlive the databases.
    // The read-only role's privileges are in the target database: they go with its table.
    try {
      for (const role of [...grantRoles, ...rawRoles])
        await target.query(`drop role if exists ${pg.escapeIdentifier(role)}`);
      await target.query('drop table if exists bench_rows');
      await target.query(`drop role if exists ${READONLY_ROLE}`);
    } catch (err) {
      console.error('  could not drop the benchmark roles:', err);
    }
    await target.end().catch(() => undefined);
    await server.dropDatabase(targetDbName).catch(() => undefined);
    await slack.stop();
    agent.destroy();
  }
}

const row = (label: string, s: Stats) =>
  `| ${label} | ${ms(s.p50)} | ${ms(s.p90)} | ${ms(s.p99)} | ${ms(s.max)} | ${fmt(s.count)} |`;

export function printProvision(r: ProvisionResults): void {
  const { postgres, none } = r.kinds;
  console.log(
    `${fmt(r.grants)} rounds after ${r.warmupRounds} not counted; each round approves one \`none\` grant and one \`postgres\` grant (order alternating), one click at a time, then runs the provisioning SQL alone. ` +
      `ms from sending the signed Approve click to the commit of \`grants.status = 'active'\` (seen by LISTEN/NOTIFY). Target: ${r.target}.\n`,
  );
  console.log('| path | p50 ms | p90 ms | p99 ms | max ms | grants |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  console.log(row('**Approve click → active, `postgres`**', postgres.total));
  console.log(row('Approve click → active, `none` (Gatehouse without a target)', none.total));
  console.log(row('provisioning SQL alone, pg on a warm connection', r.rawSql));
  const met = postgres.total.count === r.grants && postgres.total.p50 <= 1000;
  console.log(
    `\nTarget p50 ≤ 1 s: ${met ? 'met' : 'NOT met'} (${ms(postgres.total.p50)} ms; ${fmt(postgres.total.count)} of ${fmt(r.grants)} grants active, ${fmt(postgres.failed)} failed).\n`,
  );
  console.log('| step | `postgres` p50 | p99 | `none` p50 | p99 |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const step = (label: string, pick: (k: KindResults) => Stats) =>
    console.log(
      `| ${label} | ${ms(pick(postgres).p50)} | ${ms(pick(postgres).p99)} | ${ms(pick(none).p50)} | ${ms(pick(none).p99)} |`,
    );
  step('click → ack (HTTP response)', (k) => k.ack);
  step('click → approval committed (grant row, `provisioning`)', (k) => k.approve);
  step('approval committed → grant claimed', (k) => k.claim);
  step('claimed → `active` committed (provisioner, seal, commit)', (k) => k.provision);
  console.log('');
  const raw = r.rawSteps;
  console.log(
    `- The provisioning SQL alone, by statement (p50 / p99 ms): begin and existence check ${ms(raw.begin.p50)} / ${ms(raw.begin.p99)}, ` +
      `\`create role … login password … valid until\` ${ms(raw.create.p50)} / ${ms(raw.create.p99)}, \`grant\` ${ms(raw.grant.p50)} / ${ms(raw.grant.p99)}, \`commit\` ${ms(raw.commit.p50)} / ${ms(raw.commit.p99)}.`,
  );
  console.log(
    `- Counted rounds took ${fmt(r.seconds, 1)} s (filing and settling included). Machine busy ${r.machineBusyPercent === null ? 'n/a' : `${fmt(r.machineBusyPercent)} %`}; main-thread event-loop delay p99 ${ms(r.eventLoopDelay.p99)} ms, max ${ms(r.eventLoopDelay.max)} ms.`,
  );
  console.log(
    `- Logins with the sealed credentials: ${fmt(r.logins.ok)} read the table, ${fmt(r.logins.failed)} failed, ${fmt(r.logins.alreadyDelivered)} already sent and cleared. ` +
      `Roles in place at the end (LOGIN, VALID UNTIL, member of the read-only role): ${fmt(r.rolesInPlace)} of ${fmt(r.postgresGrants)}.`,
  );
  console.log(
    `- Outbox not drained within ${SETTLE_TIMEOUT_MS / 1000} s between clicks: ${fmt(r.settleTimeouts)} times. Slack calls: ${counts(r.slack.calls)} (errors ${fmt(r.slack.callErrors)}).`,
  );
  console.log(`- Warnings and errors logged: ${counts(r.problems)}.\n`);
}
