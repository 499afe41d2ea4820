/**
 * The audit channel shows every event exactly once, in order (issue 17, chaos finding 1):
 * the feed commits its post as pending before calling Slack and records it after; a post
 * whose record was lost (the connection cut by the database, a replica gone) is found by
 * reading the channel back instead of being posted again, and one Slack never took is
 * posted once. Real PostgreSQL, the fake Slack over HTTP through the app's own client.
 */
import { ErrorCode } from '@slack/web-api';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, createPool, type Db } from '../src/db/database.ts';
import { createLogger, silentLogger, type Logger } from '../src/log.ts';
import { FakeSlack, type HeldAnswer, type RecordedCall } from '../src/sandbox/fake-slack/fake-slack.ts';
import { slackClient } from '../src/slack/client.ts';
import { AuditFeed, FEED_EVENT_TYPE } from '../src/slack/outbound/audit-feed.ts';
import { retryDelayMs } from '../src/slack/slack-errors.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { captureLog } from './support/log-capture.ts';

const AUDIT_CHANNEL = 'C0AUDIT01';

interface FeedPayload {
  first_seq: number;
  last_seq: number;
  post_id: string;
}

const payloadOf = (call: RecordedCall) =>
  (call.args.metadata as { event_payload: FeedPayload } | undefined)?.event_payload;

/** A round's outcome, caught as it happens (a rejection left unhandled while the test works would fail the run). */
const outcomeOf = (round: Promise<number>): Promise<number | Error> =>
  round.then(
    (n) => n,
    (err: unknown) => err as Error,
  );

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

describe('the audit feed posts each event once, whatever is lost on the way', () => {
  let t: TestDatabase;
  let fake: FakeSlack;
  /** The head when the test started: each test posts the events after it. */
  let from = 0;
  const feeds: AuditFeed[] = [];
  const replicaDbs: Db[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());
  beforeEach(async () => {
    fake = await FakeSlack.start();
    await t.audit.flush();
    const { rows } = await t.query<{ head: string }>('select coalesce(max(seq), 0) as head from audit_events');
    from = Number(rows[0]!.head);
    await t.query(
      `update audit_channel_state set posted_seq = $1, pending_id = null, pending_first_seq = null,
         pending_last_seq = null, pending_channel = null, pending_replica = null, pending_at = null`,
      [from],
    );
  });
  afterEach(async () => {
    await Promise.all(feeds.splice(0).map((f) => f.stop()));
    await Promise.all(replicaDbs.splice(0).map((db) => db.destroy()));
    await fake.stop();
  });

  /** A feed as the background thread makes one, on this test's database (or a replica's own pool). */
  function feed(options: { db?: Db; log?: Logger; intentLeaseMs?: number } = {}): AuditFeed {
    const made = new AuditFeed(
      options.db ?? t.db,
      slackClient('xoxb-test-token', fake.apiUrl, silentLogger()),
      t.audit.sequencer,
      options.log ?? silentLogger(),
      {
        channel: () => AUDIT_CHANNEL,
        now: () => new Date(),
        minIntervalMs: 0,
        ...(options.intentLeaseMs ? { intentLeaseMs: options.intentLeaseMs } : {}),
      },
    );
    feeds.push(made);
    return made;
  }

  /** A replica's own connection pool. */
  function replicaDb(): Db {
    const db = createDb(createPool(t.url, 2));
    replicaDbs.push(db);
    return db;
  }

  function watchedLog(): { log: Logger; text: () => string } {
    const captured = captureLog();
    return { log: createLogger({ level: 'info', destination: captured.stream, pretty: false }), text: captured.text };
  }

  /** Records `count` events and chains them; resolves with the head. */
  async function record(count: number): Promise<number> {
    for (let n = 1; n <= count; n++)
      await t.audit.record({ actor: 'U0ANA0001', action: 'test.feed', subject: `thing-${n}`, body: { n } });
    await t.audit.flush();
    const { rows } = await t.query<{ head: string }>('select max(seq) as head from audit_events');
    return Number(rows[0]!.head);
  }

  /** Every seq the channel shows, in the order shown, by our posts' metadata. */
  const shown = () =>
    fake
      .messagesIn(AUDIT_CHANNEL)
      .filter((m) => m.metadata?.event_type === FEED_EVENT_TYPE)
      .flatMap((m) => {
        const { first_seq, last_seq } = m.metadata!.event_payload as unknown as FeedPayload;
        return range(first_seq, last_seq);
      });

  async function state() {
    return t.db
      .selectFrom('audit_channel_state')
      .select(['posted_seq', 'pending_id', 'pending_first_seq', 'pending_last_seq', 'pending_replica'])
      .executeTakeFirstOrThrow();
  }

  /** Holds the feed's row in a transaction of the test's own, as another round would. */
  async function lockFeedRow(): Promise<{ release(): Promise<void> }> {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    await client.query('begin');
    await client.query('select posted_seq from audit_channel_state for update');
    return {
      async release() {
        await client.query('rollback');
        await client.end();
      },
    };
  }

  /** The backend of the feed's update that waits for the row, once it does. */
  async function blockedFeedUpdate(): Promise<number> {
    for (;;) {
      const { rows } = await t.query<{ pid: number }>(
        `select pid from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like 'update "audit_channel_state"%'`,
      );
      if (rows[0]) return rows[0].pid;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * Lets Slack's answer to the held post go while the test holds the row, so the commit that
   * records the post waits, then cuts that commit's connection: the post is in the channel
   * and its record is lost, as when PostgreSQL restarts at that moment.
   */
  async function loseTheRecordOf(held: HeldAnswer): Promise<RecordedCall> {
    const call = await held.done;
    const holder = await lockFeedRow();
    held.release();
    await t.query('select pg_terminate_backend($1)', [await blockedFeedUpdate()]);
    await holder.release();
    return call;
  }

  /** Resolves once the feed has posted and recorded everything up to `head`. */
  async function postedUpTo(head: number): Promise<void> {
    await fake.waitForCall('chat.postMessage', (c) => !c.error && (payloadOf(c)?.last_seq ?? 0) >= head, {
      timeoutMs: 30_000,
    });
    while ((await state()).posted_seq < head) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  it('records a post whose commit was lost from the channel instead of posting it again, then carries on in order', async () => {
    const watched = watchedLog();
    const replica = feed({ log: watched.log });
    const head = await record(3);
    const held = fake.holdNext('chat.postMessage');
    const round = outcomeOf(replica.postOnce());
    const call = await loseTheRecordOf(held);
    expect(await round).toBeInstanceOf(Error);
    // The post is in the channel; the row still names it as pending, by the id its metadata carries.
    expect(shown()).toEqual(range(from + 1, head));
    expect(await state()).toMatchObject({
      posted_seq: from,
      pending_id: payloadOf(call)!.post_id,
      pending_first_seq: from + 1,
      pending_last_seq: head,
      pending_replica: replica.replica,
    });

    // The replica's next round finds its own post pending (and not under way), reads the channel back and records it.
    expect(await replica.postOnce()).toBe(3);
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
    expect(fake.callsTo('conversations.history')).toHaveLength(1);
    expect(await state()).toMatchObject({ posted_seq: head, pending_id: null });
    const recorded = await t.db.selectFrom('audit_channel_posts').selectAll().where('last_seq', '=', head).execute();
    expect(recorded).toEqual([
      { first_seq: from + 1, last_seq: head, channel: AUDIT_CHANNEL, ts: fake.messagesIn(AUDIT_CHANNEL)[0]!.ts },
    ]);
    expect(watched.text()).toContain('the audit channel shows a post whose commit was lost');

    // The next events follow, each once, in order.
    const next = await record(2);
    expect(await replica.postOnce()).toBe(2);
    expect(await replica.postOnce()).toBe(0);
    expect(shown()).toEqual(range(from + 1, next));
  });

  it('with two replicas posting at once and a commit lost, shows every event once, in order', async () => {
    const watched = watchedLog();
    const [a, b] = [feed({ db: replicaDb(), log: watched.log }), feed({ db: replicaDb(), log: watched.log })];
    await Promise.all([a.start(), b.start()]);
    const held = fake.holdNext('chat.postMessage');
    await record(5);
    await loseTheRecordOf(held);
    // The replica whose record was lost resolves its post at its next round; the other waits for it.
    const head = await record(20);
    await postedUpTo(head);
    expect(shown()).toEqual(range(from + 1, head));
    expect(watched.text()).toContain('the audit channel shows a post whose commit was lost');
  });

  it('leaves a young pending post of another replica alone, and resolves it from the channel once the lease is over', async () => {
    const gone = feed({ db: replicaDb() });
    const survivor = feed({ db: replicaDb(), intentLeaseMs: 3_600_000 });
    const head = await record(4);
    const held = fake.holdNext('chat.postMessage');
    const round = outcomeOf(gone.postOnce());
    await loseTheRecordOf(held);
    expect(await round).toBeInstanceOf(Error);
    // The replica that posted is gone (as after kill -9). Its post is younger than the lease: no one touches it.
    await gone.stop();
    const before = await state();
    fake.reset();
    expect(await survivor.postOnce()).toBe(0);
    expect(fake.calls).toEqual([]);
    expect(await state()).toEqual(before);

    // Once the lease has passed (aged here rather than waited for), the survivor reads the channel back.
    await t.query(`update audit_channel_state set pending_at = pending_at - interval '2 hours'`);
    expect(await survivor.postOnce()).toBe(4);
    expect(await state()).toMatchObject({ posted_seq: head, pending_id: null });
    const next = await record(1);
    expect(await survivor.postOnce()).toBe(1);
    expect(shown()).toEqual(range(from + 1, next));
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('posts once, after the read-back, an old pending post that never reached the channel', async () => {
    const head = await record(2);
    await t.query(
      `update audit_channel_state set pending_id = gen_random_uuid(), pending_first_seq = $1, pending_last_seq = $2,
         pending_channel = $3, pending_replica = 'replica-gone:4242:a1b2c3', pending_at = now() - interval '5 minutes'`,
      [from + 1, head, AUDIT_CHANNEL],
    );
    const replica = feed();
    expect(await replica.postOnce()).toBe(1);
    expect(fake.callsTo('conversations.history')).toHaveLength(1);
    expect(await state()).toMatchObject({ posted_seq: from, pending_id: null });
    expect(await replica.postOnce()).toBe(2);
    expect(shown()).toEqual(range(from + 1, head));
  });

  it('after a Slack 500 with nothing posted, reads back, finds nothing and posts once', async () => {
    const replica = feed();
    const head = await record(2);
    fake.failNext('chat.postMessage', { status: 500 });
    await expect(replica.postOnce()).rejects.toMatchObject({ code: ErrorCode.HTTPError });
    // Whether Slack posted it is unknown: the post stays pending for the read-back.
    const pending = await state();
    expect(pending).toMatchObject({ posted_seq: from, pending_first_seq: from + 1, pending_last_seq: head });
    expect(pending.pending_id).not.toBeNull();
    // Slack cannot be read either: nothing changes, and the round is retried.
    fake.failNext('conversations.history', { status: 503 });
    await expect(replica.postOnce()).rejects.toMatchObject({ code: ErrorCode.HTTPError });
    expect(await state()).toEqual(pending);

    expect(await replica.postOnce()).toBe(1);
    expect(await state()).toMatchObject({ posted_seq: from, pending_id: null });
    expect(await replica.postOnce()).toBe(2);
    expect(shown()).toEqual(range(from + 1, head));
    expect(fake.callsTo('chat.postMessage').map((c) => c.error)).toEqual(['internal_error', null]);
  });

  it('after a Slack 502 whose post was stored, finds it in the channel and does not post it again', async () => {
    const replica = feed();
    const head = await record(2);
    fake.failNext('chat.postMessage', { status: 502, afterDoing: true });
    await expect(replica.postOnce()).rejects.toMatchObject({ code: ErrorCode.HTTPError });
    expect(await replica.postOnce()).toBe(2);
    expect(await replica.postOnce()).toBe(0);
    expect(await state()).toMatchObject({ posted_seq: head, pending_id: null });
    expect(shown()).toEqual(range(from + 1, head));
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('when Slack says nothing was posted (429, ok:false), clears the post at once and posts it once on the retry', async () => {
    const replica = feed();
    const head = await record(3);
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const limited = (await replica.postOnce().catch((err: unknown) => err)) as { code: string };
    expect(limited.code).toBe(ErrorCode.RateLimitedError);
    // The pump waits for Slack's Retry-After before the next round.
    expect(retryDelayMs(limited, 1)).toBe(1000);
    expect(await state()).toMatchObject({ posted_seq: from, pending_id: null });
    fake.failNext('chat.postMessage', { error: 'channel_not_found' });
    await expect(replica.postOnce()).rejects.toMatchObject({ code: ErrorCode.PlatformError });
    expect(await state()).toMatchObject({ posted_seq: from, pending_id: null });

    expect(await replica.postOnce()).toBe(3);
    expect(shown()).toEqual(range(from + 1, head));
    // Nothing needed reading back.
    expect(fake.callsTo('conversations.history')).toEqual([]);
    expect(fake.callsTo('chat.postMessage').map((c) => c.error)).toEqual(['ratelimited', 'channel_not_found', null]);
  });

  it('reads back after an ok:false internal_error, which Slack says may have done part of the work', async () => {
    const replica = feed();
    const head = await record(1);
    fake.failNext('chat.postMessage', { error: 'internal_error' });
    await expect(replica.postOnce()).rejects.toMatchObject({ code: ErrorCode.PlatformError });
    expect((await state()).pending_id).not.toBeNull();
    expect(await replica.postOnce()).toBe(1);
    expect(fake.callsTo('conversations.history')).toHaveLength(1);
    expect(await replica.postOnce()).toBe(1);
    expect(shown()).toEqual([head]);
  });

  it('running, waits out a 429 and posts the events once', async () => {
    const replica = feed();
    await replica.start();
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const head = await record(2);
    await postedUpTo(head);
    expect(shown()).toEqual(range(from + 1, head));
    expect(fake.callsTo('chat.postMessage')[0]!.error).toBe('ratelimited');
  });

  it('does not resolve its own post while it is being made', async () => {
    const replica = feed();
    const head = await record(1);
    const held = fake.holdNext('chat.postMessage');
    const round = replica.postOnce();
    await held.done;
    // A second round on the same replica (the pump runs one at a time; this one is called by hand) waits for it.
    expect(await replica.postOnce()).toBe(0);
    expect(fake.callsTo('conversations.history')).toEqual([]);
    held.release();
    expect(await round).toBe(1);
    expect(await state()).toMatchObject({ posted_seq: head, pending_id: null });
    expect(shown()).toEqual([head]);
  });
});
