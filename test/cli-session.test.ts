import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAnchor } from '../src/audit/checkpoints/anchors.ts';
import { makeCheckpoint } from '../src/audit/checkpoints/store.ts';
import type { AuditEvent } from '../src/audit/event.ts';
import { formatSessionReport } from '../src/cli/session-report.ts';
import { PEOPLE } from './support/access.ts';
import { tamper } from './support/audit.ts';
import { randomKey } from './support/checkpoints.ts';
import { createTestDatabase, type TestAuditAction, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

/** `gatehouse <args>` as an auditor runs it, against `databaseUrl`. */
function gatehouse(databaseUrl: string, ...args: string[]): Promise<Exit> {
  return runNode(['bin/gatehouse.js', ...args], childEnv({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }));
}

const SESSION = 'ses_0a1b2c3d4e5f60718293';
const OTHER_SESSION = 'ses_99887766554433221100';
const GRANT = 'grt_ana_billing';
const BRAM_GRANT = 'grt_bram_billing';
const REFUSAL = 'billing-db is read-only through the gateway: only statements that read data are run';

/**
 * Ana's session on billing-db as the gateway records it, with Bram's session on the same
 * database interleaved: a query over two lines, a prepared statement with parameters that
 * fails, a refused delete, and a long query an owner's End session cut.
 */
async function recordSessions(t: TestDatabase): Promise<void> {
  const ana = (action: TestAuditAction, body: Record<string, unknown>) =>
    t.audit.record({ actor: PEOPLE.ana, action, subject: SESSION, body: { grant: GRANT, ...body } });
  const bram = (action: TestAuditAction, body: Record<string, unknown>) =>
    t.audit.record({ actor: PEOPLE.bram, action, subject: OTHER_SESSION, body: { grant: BRAM_GRANT, ...body } });

  await t.audit.record({
    actor: 'system',
    action: 'grant.active',
    subject: GRANT,
    body: { user: PEOPLE.ana, resource: 'billing-db', ends_at: '2026-12-03T12:00:00.000Z', attempt: 1 },
  });
  await ana('gateway.session_started', {
    resource: 'billing-db',
    database: 'billing',
    role: 'gatehouse_grt_ana_billing',
    client_address: '203.0.113.7',
    application_name: 'psql',
    tls: true,
    replica: 'gw-1',
  });
  await bram('gateway.session_started', {
    resource: 'billing-db',
    database: 'billing',
    role: 'gatehouse_grt_bram_billing',
    client_address: '198.51.100.4',
    application_name: 'DBeaver',
    tls: true,
    replica: 'gw-2',
  });
  await ana('gateway.statement', {
    n: 1,
    via: 'simple',
    sql: "select id, email\n  from accounts\n where created_at > now() - interval '1 day'",
  });
  await ana('gateway.statement_done', { n: 1, ok: true, tag: 'SELECT 2', rows: 2, duration_ms: 3.25 });
  await bram('gateway.statement', { n: 1, via: 'simple', sql: 'select 1' });
  await ana('gateway.statement', {
    n: 2,
    via: 'extended',
    sql: 'select * from invoices where id = $1 and note = $2',
    statement: 'find_invoice',
    params: ['42', null],
  });
  await ana('gateway.statement_done', {
    n: 2,
    ok: false,
    error: { code: '42P01', message: 'relation "invoices" does not exist' },
    rows: 0,
    duration_ms: 1.5,
  });
  await ana('gateway.statement_refused', {
    resource: 'billing-db',
    n: 3,
    sql: 'delete from accounts',
    rule: 'read_only',
    reason: REFUSAL,
  });
  await ana('gateway.statement', { n: 4, via: 'simple', sql: 'select pg_sleep(600)' });
  await t.audit.record({
    actor: PEOPLE.dana,
    action: 'gateway.end_requested',
    subject: SESSION,
    body: { grant: GRANT, resource: 'billing-db', user: PEOPLE.ana },
  });
  await ana('gateway.statement_done', { n: 4, ok: false, cut: true, rows: 0, duration_ms: 120000 });
  await t.audit.record({
    actor: 'system',
    action: 'gateway.session_ended',
    subject: SESSION,
    body: {
      grant: GRANT,
      resource: 'billing-db',
      reason: 'ended_by_owner',
      statements: 4,
      refused: 1,
      rows: 2,
      duration_ms: 185000,
      in_transaction: false,
    },
  });
  await bram('gateway.statement_done', { n: 1, ok: true, tag: 'SELECT 1', rows: 1, duration_ms: 0.8 });
  await t.audit.flush();
}

/** The session's events as stored: seq and the exact canonical text, in seq order. */
async function storedEvents(t: TestDatabase, subject: string): Promise<{ seq: number; canonical: string }[]> {
  const { rows } = await t.query<{ seq: string; canonical: string }>(
    "select seq, canonical from audit_events where canonical::jsonb ->> 'subject' = $1 order by seq",
    [subject],
  );
  return rows.map((row) => ({ seq: Number(row.seq), canonical: row.canonical }));
}

/** Times differ run to run; seqs and everything else do not. */
function withoutTimes(text: string): string {
  return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/g, '<time>');
}

let workDir: string;
const databases: TestDatabase[] = [];

async function databaseWithSessions(): Promise<TestDatabase> {
  const t = await createTestDatabase();
  databases.push(t);
  await recordSessions(t);
  return t;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-session-'));
});

afterAll(async () => {
  await killLeftoverChildren();
  await Promise.all(databases.map((t) => t.destroy()));
  await rm(workDir, { recursive: true, force: true });
});

describe('gatehouse audit session', () => {
  let t: TestDatabase;
  let seqs: number[];

  beforeAll(async () => {
    t = await databaseWithSessions();
    seqs = (await storedEvents(t, SESSION)).map((event) => event.seq);
    expect(seqs).toHaveLength(10);
  });

  it("verifies the log, then shows the session's statements in order with what each did", async () => {
    const result = await gatehouse(t.url, 'audit', 'session', SESSION);

    expect(result.code, result.output).toBe(0);
    const [started, s1, d1, s2, d2, r3, s4, asked, d4, ended] = seqs;
    const total = seqs.length + 4; // grant.active and Bram's three events
    expect(withoutTimes(result.stdout).split('\n')).toEqual([
      `✔ The audit log is whole: ${total} events checked, every hash recomputed.`,
      expect.stringMatching(/^ {2}head: seq \d+, hash [0-9a-f]{64}$/),
      expect.stringMatching(/^⚠ No checkpoint public key was given/),
      '',
      `Session ${SESSION}`,
      `  holder:    ${PEOPLE.ana}`,
      '  resource:  billing-db, database billing as role gatehouse_grt_ana_billing',
      `  grant:     ${GRANT}`,
      '  client:    203.0.113.7, application psql, TLS, gateway replica gw-1',
      `  started:   <time> (seq ${started})`,
      `  ended:     <time> (seq ${ended}): an owner ended it; ${PEOPLE.dana} pressed End session at <time> (seq ${asked})`,
      '  summary:   4 statements, 1 refused, 2 rows, 3 min 5 s',
      '',
      `#1  seq ${s1}  <time>  simple query`,
      '    select id, email',
      '      from accounts',
      "     where created_at > now() - interval '1 day'",
      `  → SELECT 2, 2 rows (seq ${d1}, 3.25 ms)`,
      '',
      `#2  seq ${s2}  <time>  extended, prepared statement "find_invoice"`,
      '    select * from invoices where id = $1 and note = $2',
      '  params: $1 = "42", $2 = NULL',
      `  → error 42P01: relation "invoices" does not exist (seq ${d2}, 1.5 ms)`,
      '',
      `#3  seq ${r3}  <time>`,
      '    delete from accounts',
      `  → refused: ${REFUSAL} (read_only)`,
      '',
      `#4  seq ${s4}  <time>  simple query`,
      '    select pg_sleep(600)',
      `  → cut when the session ended (seq ${d4}, 2 min 0 s)`,
      '',
    ]);
  });

  it('gives the verified events exactly as stored, one a line, for tools', async () => {
    const result = await gatehouse(t.url, 'audit', 'session', SESSION, '--json');

    expect(result.code, result.output).toBe(0);
    const stored = await storedEvents(t, SESSION);
    expect(result.stdout).toBe(stored.map((event) => `${event.canonical}\n`).join(''));
    const actions = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as AuditEvent).action);
    expect(actions).toEqual([
      'gateway.session_started',
      'gateway.statement',
      'gateway.statement_done',
      'gateway.statement',
      'gateway.statement_done',
      'gateway.statement_refused',
      'gateway.statement',
      'gateway.end_requested',
      'gateway.statement_done',
      'gateway.session_ended',
    ]);
    expect(result.stderr).toContain('The audit log is whole');
  });

  it('says plainly that it knows no such session, and exits 1', async () => {
    const unknown = await gatehouse(t.url, 'audit', 'session', 'ses_ffffffffffffffffffff');
    expect(unknown.code, unknown.output).toBe(1);
    expect(unknown.stderr).toContain('No gateway session ses_ffffffffffffffffffff in the audit log');
    expect(unknown.stdout).not.toContain('Session ses_');

    const grantId = await gatehouse(t.url, 'audit', 'session', GRANT, '--json');
    expect(grantId.code, grantId.output).toBe(1);
    expect(grantId.stderr).toContain(`No gateway session ${GRANT} in the audit log`);
    expect(grantId.stderr).toContain('A session id is ses_ and 20 hex digits');
    expect(grantId.stdout).toBe('');
  });

  it("leaves nothing out of the export: the session's events are in it as stored", async () => {
    const file = join(workDir, 'audit.jsonl');
    const result = await gatehouse(t.url, 'audit', 'export', '--out', file);
    expect(result.code, result.output).toBe(0);

    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    const stored = await storedEvents(t, SESSION);
    const exported = lines.filter((line) => line.includes(`"subject":"${SESSION}"`));
    expect(exported.map((line) => line.slice('{"event":'.length, line.indexOf(',"hash":"')))).toEqual(
      stored.map((event) => event.canonical),
    );
  });
});

describe('gatehouse audit session on a log that is not whole', () => {
  it('refuses to show anything, and says where the chain breaks', async () => {
    const t = await databaseWithSessions();
    const [, firstStatement] = (await storedEvents(t, SESSION)).map((event) => event.seq);
    // Someone hides which table was read.
    await tamper(
      t,
      `update audit_events set canonical = replace(canonical, 'from accounts', 'from products') where seq = ${firstStatement}`,
    );

    const result = await gatehouse(t.url, 'audit', 'session', SESSION);

    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toContain(`The audit log is NOT whole: content-changed at seq ${firstStatement}.`);
    expect(result.stderr).toContain(
      `Refusing to show session ${SESSION}: the audit log is not whole (content-changed at seq ${firstStatement})`,
    );
    expect(result.output).not.toContain('from products');
    expect(result.output).not.toContain(`Session ${SESSION}`);

    const json = await gatehouse(t.url, 'audit', 'session', SESSION, '--json');
    expect(json.code, json.output).toBe(1);
    expect(json.stdout).toBe('');
    expect(json.stderr).toContain(`content-changed at seq ${firstStatement}`);
  });
});

describe('gatehouse audit session with a checkpoint key', () => {
  it("shows the session while the checkpoints hold, and refuses once the session's end is deleted", async () => {
    const t = await databaseWithSessions();
    const key = randomKey();
    const anchorFile = join(workDir, 'anchors.jsonl');
    const checkpoint = await makeCheckpoint(t.db, key);
    if (!checkpoint) throw new Error('no checkpoint was made');
    await appendAnchor(anchorFile, checkpoint);
    const signed = ['--public-key', key.publicKey.hex, '--anchors', anchorFile];

    const whole = await gatehouse(t.url, 'audit', 'session', SESSION, ...signed);
    expect(whole.code, whole.output).toBe(0);
    expect(whole.stdout).toContain(
      `✔ checkpoints: 1 checkpoint in the database checked with key ${key.publicKey.keyId}`,
    );
    expect(whole.stdout).toContain(`Session ${SESSION}`);

    // Someone removes how the session ended, and the events after it: the chain alone still holds.
    const ended = (await storedEvents(t, SESSION)).at(-1)!.seq;
    await tamper(t, `delete from audit_events where seq >= ${ended}`);

    const cut = await gatehouse(t.url, 'audit', 'session', SESSION, ...signed);
    expect(cut.code, cut.output).toBe(1);
    expect(cut.stdout).toContain(`NOT whole: truncated at seq ${checkpoint.seq}`);
    expect(cut.stderr).toContain(
      `Refusing to show session ${SESSION}: the audit log is not whole (truncated at seq ${checkpoint.seq})`,
    );
    expect(cut.output).not.toContain(`Session ${SESSION}`);
  });
});

describe('the session report', () => {
  const event = (seq: number, action: string, body: Record<string, unknown>, actor = 'U0ANA0001'): AuditEvent => ({
    v: 1,
    seq,
    time: '2026-12-03T10:00:00.000000Z',
    actor,
    action,
    subject: SESSION,
    body: { grant: GRANT, ...body },
  });
  const report = (...events: AuditEvent[]) =>
    formatSessionReport(
      SESSION,
      events.map((e) => ({ canonical: JSON.stringify(e), event: e })),
    );

  it('says when the SQL was cut, and shows hashed parameters as recorded', () => {
    const text = report(
      event(5, 'gateway.statement', {
        n: 1,
        via: 'extended',
        statement: '',
        sql: 'select 1',
        sql_length: 10000,
        sql_sha256: 'ab'.repeat(32),
        params_sha256: ['cd'.repeat(32), null],
      }),
      event(6, 'gateway.statement', { n: 2, via: 'function_call', function_oid: 1299, params_omitted: 2 }),
    );

    expect(text).toContain(
      `  (cut: the first 8 of 10,000 characters are on the record; SHA-256 of the whole text ${'ab'.repeat(32)})`,
    );
    expect(text).toContain(`  params: (SHA-256 of each) $1 = ${'cd'.repeat(32)}, $2 = NULL`);
    expect(text).toContain('#2  seq 6  2026-12-03T10:00:00.000000Z  function call, oid 1299');
    expect(text).toContain('  params: 2 (not recorded)');
    expect(text).toContain('  → no outcome on the record');
    expect(text).toContain('  ended:     not on the record: the session is still open');
  });

  it("shows terminal control characters in the holder's SQL as escapes, so they cannot hide lines", () => {
    const text = report(
      event(5, 'gateway.statement', {
        n: 1,
        via: 'simple',
        sql: 'drop table x;\u001b[2K\u001b[1A\rselect 1 -- \u202Eok',
      }),
    );

    expect(text).toContain('    drop table x;\\u{001b}[2K\\u{001b}[1A\\u{000d}select 1 -- \\u{202e}ok');
    for (const hidden of ['\u001b', '\r', '\u202E']) expect(text).not.toContain(hidden);
  });
});
