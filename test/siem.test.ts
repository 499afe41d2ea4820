/**
 * Streaming the audit log to a SIEM (docs/siem.md), against local receivers: an OTLP/HTTP
 * logs endpoint and a syslog server over TCP and TLS. Every event once and in order, with
 * seq and hashes; a receiver down, failing or throttling, and then back: nothing skipped;
 * a restart resumes after the last accepted seq; two replicas streaming at once send each
 * event once; the one place an event may go twice (accepted, then a crash before the
 * commit) repeats it with the same seq and hash, for the receiver to drop.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chainHash } from '../src/audit/chain.ts';
import { readLogId } from '../src/audit/checkpoints/store.ts';
import { loadConfig } from '../src/config/env.ts';
import { createLogger, silentLogger, type Logger } from '../src/log.ts';
import { registry } from '../src/metrics/metrics.ts';
import { readState, stateRegistry } from '../src/metrics/state.ts';
import type { SiemDestination } from '../src/siem/destination.ts';
import { OtlpDestination } from '../src/siem/otlp.ts';
import { SiemStreamer } from '../src/siem/siem-streamer.ts';
import { syslogDestination } from '../src/siem/syslog.ts';
import { createTestDatabase, type TestAuditAction, type TestDatabase } from './support/db.ts';
import { PEOPLE } from './support/access.ts';
import { startBot } from './support/gatehouse.ts';
import { OtlpReceiver } from './support/otlp-receiver.ts';
import { fileRequest } from './support/slack-stories.ts';
import { SyslogReceiver } from './support/syslog-receiver.ts';

const run = promisify(execFile);

/** A log whose lines can be awaited. */
function watchedLog(): { log: Logger; text: () => string; until: (needle: string) => Promise<void> } {
  let text = '';
  let waiting: { needle: string; resolve: () => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      waiting = waiting.filter((w) => (text.includes(w.needle) ? (w.resolve(), false) : true));
      done();
    },
  });
  return {
    log: createLogger({ level: 'warn', destination: stream, pretty: false }),
    text: () => text,
    until: (needle) =>
      text.includes(needle) ? Promise.resolve() : new Promise((resolve) => waiting.push({ needle, resolve })),
  };
}

const FAILED = 'streaming audit events to the SIEM failed';

describe('streaming the audit log to a SIEM', () => {
  let t: TestDatabase;
  let logId: string;
  let receiver: OtlpReceiver;
  const streamers: SiemStreamer[] = [];
  /** The head when the test started: each test streams the events after it. */
  let from = 0;

  beforeAll(async () => {
    t = await createTestDatabase();
    logId = await readLogId(t.db);
  });
  afterAll(async () => t.destroy());
  beforeEach(async () => {
    await t.audit.flush();
    const { rows } = await t.query<{ head: string }>('select coalesce(max(seq), 0) as head from audit_events');
    from = Number(rows[0]!.head);
    await t.query('delete from siem_cursor');
    await t.query(`insert into siem_cursor (destination, delivered_seq) values ('otlp', $1), ('syslog', $1)`, [from]);
    receiver = new OtlpReceiver();
    await receiver.start();
  });
  afterEach(async () => {
    await Promise.all(streamers.splice(0).map((s) => s.stop()));
    await receiver.stop();
  });

  function otlp(headers: Record<string, string> = {}): OtlpDestination {
    return new OtlpDestination({ url: receiver.url, headers, logId, timeoutMs: 5000 });
  }

  async function stream(destination: SiemDestination, options: { batch?: number; log?: Logger } = {}) {
    const streamer = new SiemStreamer(t.db, destination, {
      cue: t.audit.sequencer,
      log: options.log ?? silentLogger(),
      now: () => new Date(),
      batch: options.batch ?? 7,
      retryBaseMs: 20,
      pollMs: 50,
    });
    streamer.start();
    streamers.push(streamer);
    return streamer;
  }

  /** Records `count` events, each in its own transaction, and chains them; resolves with the head. */
  async function record(count: number, action: TestAuditAction = 'test.siem'): Promise<number> {
    for (let n = 1; n <= count; n++)
      await t.audit.record({
        actor: 'U0ANA0001',
        action,
        subject: `thing-${n}`,
        body: { n, note: 'a "quoted" ] text' },
      });
    await t.audit.flush();
    const { rows } = await t.query<{ head: string }>('select max(seq) as head from audit_events');
    return Number(rows[0]!.head);
  }

  const seqsFrom = (head: number) => Array.from({ length: head - from }, (_, i) => from + i + 1);

  it('sends every event once, in order, with its seq, hashes, fields and canonical text', async () => {
    await stream(otlp(), { batch: 7 });
    const head = await record(30);
    await receiver.until(() => receiver.records.length >= head - from);
    expect(receiver.records.map((r) => r.seq)).toEqual(seqsFrom(head));
    const { rows } = await t.query<{ seq: string; canonical: string; hash: Buffer; prev_hash: Buffer }>(
      'select seq, canonical, hash, prev_hash from audit_events where seq > $1 order by seq',
      [from],
    );
    for (const [i, r] of receiver.records.entries()) {
      const row = rows[i]!;
      expect(r.hash).toBe(row.hash.toString('hex'));
      expect(r.prevHash).toBe(row.prev_hash.toString('hex'));
      expect(r.body).toBe(row.canonical);
      // A receiver can check each record from the record alone, and the chain from one to the next.
      expect(chainHash(Buffer.from(r.prevHash, 'hex'), r.body).toString('hex')).toBe(r.hash);
      if (i > 0) expect(r.prevHash).toBe(receiver.records[i - 1]!.hash);
      const event = JSON.parse(r.body) as { time: string; actor: string; action: string; subject: string };
      expect([r.action, r.actor, r.subject, r.eventName]).toEqual([
        event.action,
        event.actor,
        event.subject,
        event.action,
      ]);
      expect(r.timeUnixNano.slice(0, 10)).toBe(String(Math.floor(Date.parse(event.time) / 1000)));
      expect([r.severityNumber, r.severityText]).toEqual([9, 'INFO']);
      expect(r.resource).toMatchObject({ 'service.name': 'gatehouse', 'gatehouse.log_id': logId });
    }
    // Stopping lets the last batch's commit finish: the cursor is then at the head.
    await Promise.all(streamers.splice(0).map((s) => s.stop()));
    const { rows: cursor } = await t.query<{ delivered_seq: string }>(
      `select delivered_seq from siem_cursor where destination = 'otlp'`,
    );
    expect(Number(cursor[0]!.delivered_seq)).toBe(head);
    await readState(t.db);
    const lag = (await stateRegistry.getSingleMetric('gatehouse_siem_lag_events')!.get()).values;
    expect(lag).toContainEqual(expect.objectContaining({ labels: { destination: 'otlp' }, value: 0 }));
    expect(lag).toContainEqual(expect.objectContaining({ labels: { destination: 'syslog' }, value: head - from }));
  });

  it('maps refusals, failures and alerts (by their own severity) above info', async () => {
    await stream(otlp());
    await t.audit.record({ actor: 'U0ANA0001', action: 'request.refused', subject: null, body: {} });
    await t.audit.record({ actor: 'system', action: 'grant.revoke_failed', subject: 'g1', body: {} });
    await t.audit.record({ actor: 'system', action: 'grant.revoked', subject: 'g1', body: {} });
    await t.audit.record({ actor: 'system', action: 'alert.raised', subject: 'alt_1', body: { severity: 'critical' } });
    await t.audit.record({ actor: 'system', action: 'alert.raised', subject: 'alt_2', body: { severity: 'high' } });
    await t.audit.record({ actor: 'U0ANA0001', action: 'request.created', subject: 'r1', body: {} });
    await t.audit.flush();
    await receiver.until(() => receiver.records.length >= 6);
    expect(receiver.records.map((r) => [r.action, r.severityText, r.subject])).toEqual([
      ['request.refused', 'WARN', null],
      ['grant.revoke_failed', 'ERROR', 'g1'],
      ['grant.revoked', 'NOTICE', 'g1'],
      ['alert.raised', 'CRITICAL', 'alt_1'],
      ['alert.raised', 'ERROR', 'alt_2'],
      ['request.created', 'INFO', 'r1'],
    ]);
    expect(receiver.records.map((r) => r.severityNumber)).toEqual([13, 17, 10, 21, 17, 9]);
  });

  it('waits out a receiver that is down, then sends everything, skipping nothing', async () => {
    await receiver.stop();
    const watched = watchedLog();
    await stream(otlp(), { batch: 5, log: watched.log });
    const head = await record(12);
    // Connection refused, retried with backoff: the cursor has not moved.
    await watched.until(FAILED);
    const { rows } = await t.query<{ delivered_seq: string }>(
      `select delivered_seq from siem_cursor where destination = 'otlp'`,
    );
    expect(Number(rows[0]!.delivered_seq)).toBe(from);
    const failures = await registry.getSingleMetric('gatehouse_siem_failures_total')!.get();
    expect(failures.values.find((v) => v.labels.destination === 'otlp')?.value).toBeGreaterThan(0);
    await receiver.start();
    await receiver.until(() => receiver.records.length >= head - from);
    expect(receiver.records.map((r) => r.seq)).toEqual(seqsFrom(head));
  });

  it('sends a batch again after a 500 and a 429, until it is accepted', async () => {
    receiver.refusals.push(500, 429, 500);
    await stream(otlp(), { batch: 4 });
    const head = await record(10);
    await receiver.until(() => receiver.records.length >= head - from);
    expect(receiver.refused).toBe(3);
    expect(receiver.records.map((r) => r.seq)).toEqual(seqsFrom(head));
  });

  it('resumes after a restart from the last accepted seq, sending nothing twice', async () => {
    await record(20);
    const first = await stream(otlp(), { batch: 5 });
    await receiver.until(() => receiver.records.length >= 10);
    // A stop lets the batch in flight finish and commit.
    await first.stop();
    streamers.splice(streamers.indexOf(first), 1);
    // Events chained while no process streams wait for the next.
    const head = await record(20);
    expect(receiver.records.length).toBeLessThan(head - from);
    await stream(otlp(), { batch: 5 });
    await receiver.until(() => receiver.records.length >= head - from);
    expect(receiver.records.map((r) => r.seq)).toEqual(seqsFrom(head));
  });

  it('with two replicas streaming at once, sends each event once', async () => {
    await stream(otlp(), { batch: 3 });
    await stream(otlp(), { batch: 3 });
    const head = await record(45);
    await receiver.until(() => receiver.records.length >= head - from);
    expect(receiver.records.map((r) => r.seq)).toEqual(seqsFrom(head));
  });

  it('sends a batch again if the process dies after the receiver accepted it and before the commit: same seqs and hashes, to drop', async () => {
    const inner = otlp();
    let crashes = 1;
    const crashing: SiemDestination = {
      name: 'otlp',
      async send(events) {
        await inner.send(events);
        // What a crash between the receiver's 200 and the cursor's commit leaves: the batch sent, the cursor not moved.
        if (events[0]!.seq > from + 5 && crashes-- > 0) throw new Error('the process died before the commit');
      },
      close: () => inner.close(),
    };
    // All chained first, so the batches are seqs 1-5, 6-10 and 11-15 of this test.
    const head = await record(15);
    await stream(crashing, { batch: 5 });
    await receiver.until(() => new Set(receiver.records.map((r) => r.seq)).size >= head - from);
    const seqs = receiver.records.map((r) => r.seq);
    // The second batch (seqs 6-10 of this test) arrived twice, one copy after the other.
    expect(seqs).toEqual([...seqsFrom(from + 10), ...seqsFrom(from + 10).slice(5)].concat(seqsFrom(head).slice(10)));
    // Deduplicated on seq (the hash confirms it is the same event), the stream is every event once, in order.
    const kept = new Map<number, string>();
    for (const r of receiver.records) {
      if (kept.has(r.seq)) expect(kept.get(r.seq)).toBe(r.hash);
      else kept.set(r.seq, r.hash);
    }
    expect([...kept.keys()]).toEqual(seqsFrom(head));
  });

  it('sends the token header to the receiver and never writes it to the log or a record', async () => {
    const token = 'Bearer siem-secret-token-7f3a';
    receiver.refusals.push(500);
    const watched = watchedLog();
    await stream(otlp({ authorization: token, 'x-tenant': 'ops' }), { log: watched.log });
    const head = await record(3);
    await receiver.until(() => receiver.records.length >= head - from);
    await watched.until(FAILED);
    expect(receiver.headers.every((h) => h.authorization === token && h['x-tenant'] === 'ops')).toBe(true);
    expect(watched.text()).toContain('"destination":"otlp"');
    expect(watched.text()).not.toContain('siem-secret-token');
    expect(JSON.stringify(receiver.records)).not.toContain('siem-secret-token');
  });

  describe('to syslog', () => {
    let dir: string;
    let cert: { key: Buffer; cert: Buffer };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gatehouse-siem-'));
      // A self-signed certificate for 127.0.0.1, made by openssl (a dependency of Debian's PostgreSQL).
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      cert = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
      // Another, that did not sign the server's: the CA a man in the middle would not match.
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'other-key.pem'),
        '-out',
        join(dir, 'other.pem'),
      ]);
    });
    afterAll(async () => rm(dir, { recursive: true, force: true }));

    const syslog = (url: string, caFile?: string) =>
      syslogDestination({ url, caFile, hostname: 'gh-1', appName: 'gatehouse', logId, timeoutMs: 5000 });

    it.each([
      ['TCP', false],
      ['TLS, the server checked against the CA file', true],
    ])('sends every event once, in order, as octet-counted RFC 5424 over %s', async (_name, useTls) => {
      const server = new SyslogReceiver(useTls ? cert : undefined);
      await server.start();
      try {
        await stream(await syslog(server.url, useTls ? join(dir, 'cert.pem') : undefined), { batch: 6 });
        const head = await record(20, 'request.denied');
        await server.until(() => server.records.length >= head - from);
        expect(server.errors).toEqual([]);
        expect(server.records.map((r) => Number(r.params.seq))).toEqual(seqsFrom(head));
        const { rows } = await t.query<{ canonical: string; hash: Buffer }>(
          'select canonical, hash from audit_events where seq > $1 order by seq',
          [from],
        );
        for (const [i, r] of server.records.entries()) {
          expect(r.msg).toBe(rows[i]!.canonical);
          expect(r.params.hash).toBe(rows[i]!.hash.toString('hex'));
          expect(chainHash(Buffer.from(r.params.prev_hash!, 'hex'), r.msg).toString('hex')).toBe(r.params.hash);
          // Facility 13 (log audit), severity 4 (warning) for a denial.
          expect([r.pri, r.hostname, r.appName, r.msgId]).toEqual([13 * 8 + 4, 'gh-1', 'gatehouse', 'request.denied']);
          expect(r.params).toMatchObject({ actor: 'U0ANA0001', subject: `thing-${i + 1}`, log_id: logId });
          expect(r.time).toBe((JSON.parse(r.msg) as { time: string }).time);
        }
      } finally {
        await Promise.all(streamers.splice(0).map((s) => s.stop()));
        await server.stop();
      }
    });

    it('waits out a syslog server that is down, then sends everything', async () => {
      const server = new SyslogReceiver();
      await server.start();
      await server.stop();
      const watched = watchedLog();
      try {
        await stream(await syslog(server.url), { batch: 4, log: watched.log });
        const head = await record(9);
        await watched.until(FAILED);
        await server.start();
        await server.until(() => server.records.length >= head - from);
        expect(server.records.map((r) => Number(r.params.seq))).toEqual(seqsFrom(head));
      } finally {
        await Promise.all(streamers.splice(0).map((s) => s.stop()));
        await server.stop();
      }
    });

    it('sends nothing to a TLS server whose certificate the CA file does not vouch for, and keeps its place', async () => {
      const server = new SyslogReceiver(cert);
      await server.start();
      const watched = watchedLog();
      try {
        await stream(await syslog(server.url, join(dir, 'other.pem')), { log: watched.log });
        await record(3);
        await watched.until(FAILED);
        expect(watched.text()).toMatch(/self[- ]signed certificate|unable to verify/);
        expect(server.records).toEqual([]);
        const { rows } = await t.query<{ delivered_seq: string }>(
          `select delivered_seq from siem_cursor where destination = 'syslog'`,
        );
        expect(Number(rows[0]!.delivered_seq)).toBe(from);
      } finally {
        await Promise.all(streamers.splice(0).map((s) => s.stop()));
        await server.stop();
      }
    });

    it('refuses a CA file it cannot read, naming the setting', async () => {
      await expect(syslog('tls://127.0.0.1:1', join(dir, 'missing.pem'))).rejects.toThrow(
        /GATEHOUSE_SIEM_SYSLOG_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/,
      );
    });
  });
});

describe('the app, with a SIEM configured', () => {
  it('streams its chain from the first event, from the background thread, and stops with the app', async () => {
    const receiver = new OtlpReceiver();
    await receiver.start();
    const watched = watchedLog();
    const bot = await startBot({
      env: {
        GATEHOUSE_SIEM_OTLP_URL: receiver.url,
        GATEHOUSE_SIEM_OTLP_HEADERS: 'authorization=Bearer%20app-token-9c1e',
      },
      log: watched.log,
    });
    try {
      // The policy's first load is seq 1: a new destination receives the whole log.
      await receiver.until(() => receiver.records.some((r) => r.action === 'policy.loaded'));
      expect(receiver.records[0]).toMatchObject({ seq: 1, action: 'policy.loaded' });
      await fileRequest(bot, PEOPLE.ana, 'staging-db 30m look at the slow query');
      await receiver.until(() => receiver.records.some((r) => r.action === 'request.created'));
      expect(receiver.records.map((r) => r.seq)).toEqual(receiver.records.map((_, i) => i + 1));
      expect(receiver.headers[0]?.authorization).toBe('Bearer app-token-9c1e');
    } finally {
      await bot.stop();
      await receiver.stop();
    }
    expect(watched.text()).not.toContain('app-token-9c1e');
  });
});

describe('SIEM settings', () => {
  it('reads the destinations, headers and batch size', () => {
    const config = loadConfig({
      GATEHOUSE_SIEM_OTLP_URL: 'https://collector:4318/v1/logs',
      GATEHOUSE_SIEM_OTLP_HEADERS: 'Authorization=Bearer%20abc,x-tenant=ops',
      GATEHOUSE_SIEM_SYSLOG_URL: 'tls://siem.example:6514',
      GATEHOUSE_SIEM_BATCH: '200',
    });
    expect(config.siem).toEqual({
      otlp: { url: 'https://collector:4318/v1/logs', headers: { authorization: 'Bearer abc', 'x-tenant': 'ops' } },
      syslog: { url: 'tls://siem.example:6514', caFile: undefined, hostname: undefined, appName: 'gatehouse' },
      batch: 200,
    });
    expect(loadConfig({}).siem).toEqual({ otlp: null, syslog: null, batch: 500 });
  });

  it('says which setting is wrong and how to write it, without echoing a secret', () => {
    expect(() => loadConfig({ GATEHOUSE_SIEM_SYSLOG_URL: 'udp://siem:514' })).toThrow(
      /GATEHOUSE_SIEM_SYSLOG_URL: must be tcp:\/\/host:port or tls:\/\/host:port/,
    );
    expect(() => loadConfig({ GATEHOUSE_SIEM_OTLP_URL: 'collector:4318' })).toThrow(/GATEHOUSE_SIEM_OTLP_URL: must be/);
    let message = '';
    try {
      loadConfig({ GATEHOUSE_SIEM_OTLP_URL: 'http://c/v1/logs', GATEHOUSE_SIEM_OTLP_HEADERS: 'Bearer-s3cr3t' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/GATEHOUSE_SIEM_OTLP_HEADERS: entry 1 is not name=value/);
    expect(message).not.toContain('s3cr3t');
    expect(() => loadConfig({ GATEHOUSE_SIEM_OTLP_HEADERS: 'authorization=x' })).toThrow(
      /GATEHOUSE_SIEM_OTLP_HEADERS is set but GATEHOUSE_SIEM_OTLP_URL is not/,
    );
    expect(() =>
      loadConfig({ GATEHOUSE_SIEM_SYSLOG_URL: 'tcp://siem:514', GATEHOUSE_SIEM_SYSLOG_CA_FILE: '/etc/ca.pem' }),
    ).toThrow(/GATEHOUSE_SIEM_SYSLOG_CA_FILE is set but GATEHOUSE_SIEM_SYSLOG_URL is not tls:\/\/host:port/);
  });
});
