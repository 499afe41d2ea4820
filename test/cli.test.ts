import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

/** `gatehouse <args>` as an operator runs it, against `databaseUrl`. */
function gatehouse(databaseUrl: string, ...args: string[]): Promise<Exit> {
  return runNode(['bin/gatehouse.js', ...args], childEnv({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }));
}

async function recordEvents(t: TestDatabase, count: number): Promise<void> {
  for (let n = 1; n <= count; n += 1) {
    await t.audit.record({ actor: 'system', action: 'test.event', subject: 'x', body: { n: 1 } });
  }
  await t.audit.flush();
}

/** What a person with superuser rights could do to the table behind the bot's back. */
async function rewriteEventTwo(t: TestDatabase): Promise<void> {
  await t.query(`
    alter table audit_events disable trigger user;
    update audit_events set canonical = replace(canonical, '"n":1', '"n":2') where seq = 2;
    alter table audit_events enable always trigger audit_events_no_update_delete;
    alter table audit_events enable always trigger audit_events_no_truncate;
  `);
}

let workDir: string;
const databases: TestDatabase[] = [];

async function database(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const t = await createTestDatabase(options);
  databases.push(t);
  return t;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
});

afterAll(async () => {
  await killLeftoverChildren();
  await Promise.all(databases.map((t) => t.destroy()));
  await rm(workDir, { recursive: true, force: true });
});

describe('gatehouse migrate', () => {
  it('brings a new database up to date, and a second run has nothing to do', async () => {
    const t = await database({ migrate: false });

    const before = await gatehouse(t.url, 'audit', 'verify');
    expect(before.code).toBe(2);
    expect(before.stderr).toContain('run `gatehouse migrate` first');

    const first = await gatehouse(t.url, 'migrate');
    expect(first.code, first.output).toBe(0);
    expect(first.stdout).toMatch(/Applied \d+ migration\(s\): \S*audit_log/);
    const tables = await t.query<{ name: string }>(
      `select tablename as name from pg_tables where tablename = 'audit_events'`,
    );
    expect(tables.rows).toEqual([{ name: 'audit_events' }]);

    const second = await gatehouse(t.url, 'migrate');
    expect(second.code, second.output).toBe(0);
    expect(second.stdout).toContain('The database is up to date.');
  });

  it('never prints the database password, even when it cannot connect', async () => {
    const result = await gatehouse('postgres://u:sekrit-pw@127.0.0.1:1/x', 'migrate');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Cannot connect to PostgreSQL at postgres://u:***@127.0.0.1:1/x');
    expect(result.output).not.toContain('sekrit-pw');
  });
});

describe('gatehouse audit verify', () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await database();
    await recordEvents(t, 3);
  });

  it('says a log with events is whole and shows its head', async () => {
    const result = await gatehouse(t.url, 'audit', 'verify');

    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain('The audit log is whole: 3 events checked');
    expect(result.stdout).toMatch(/head: seq 3, hash [0-9a-f]{64}/);
  });

  it('gives the same verdict as JSON for scripts', async () => {
    const result = await gatehouse(t.url, 'audit', 'verify', '--json');

    expect(result.code, result.output).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: true,
      checked: 3,
      headSeq: 3,
      headHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      failure: null,
    });
  });

  it('fails on an empty log: a log with nothing in it proves nothing', async () => {
    const empty = await database();

    const result = await gatehouse(empty.url, 'audit', 'verify');

    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toContain('NOT whole: empty');
  });

  it('names the altered event after a superuser rewrites one behind the triggers', async () => {
    const tampered = await database();
    await recordEvents(tampered, 3);
    await rewriteEventTwo(tampered);

    const result = await gatehouse(tampered.url, 'audit', 'verify');
    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toContain('NOT whole: content-changed at seq 2');
    expect(result.stdout).toContain('1 event before it verified; the last good one is seq 1');

    const json = await gatehouse(tampered.url, 'audit', 'verify', '--json');
    expect(json.code, json.output).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      checked: 1,
      headSeq: 1,
      failure: { seq: 2, reason: 'content-changed' },
    });

    // The triggers are back on, ALWAYS: the table is append-only again.
    await expect(tampered.query('delete from audit_events where seq = 3')).rejects.toThrow(/append-only/);
  });
});

describe('gatehouse audit export and verify-file', () => {
  let t: TestDatabase;
  let exported: string;

  beforeAll(async () => {
    t = await database();
    await recordEvents(t, 3);
    exported = join(workDir, 'audit.jsonl');
  });

  it('exports the log to a file that verifies with no database', async () => {
    const exportRun = await gatehouse(t.url, 'audit', 'export', '--out', exported);
    expect(exportRun.code, exportRun.output).toBe(0);
    expect(exportRun.stdout).toContain(`Exported 3 events and 0 checkpoint(s) to ${exported}`);
    // The header naming the log (and no key: no checkpoint was made), then one line per event.
    const lines = (await readFile(exported, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\{"format":"gatehouse audit export","key_id":null,"log_id":"[0-9a-f-]{36}","v":2\}$/);

    const verify = await gatehouse('postgres://nobody@127.0.0.1:1/none', 'audit', 'verify-file', exported);
    expect(verify.code, verify.output).toBe(0);
    expect(verify.stdout).toContain(`${exported} is whole: 3 events checked`);
    expect(verify.stdout).toMatch(/head: seq 3, hash [0-9a-f]{64}/);
  });

  it('names the line of an event edited by one character', async () => {
    const edited = join(workDir, 'edited.jsonl');
    await copyFile(exported, edited);
    const lines = (await readFile(edited, 'utf8')).split('\n');
    expect(lines[2]).toContain('"seq":2');
    lines[2] = lines[2]!.replace('"n":1', '"n":7');
    await writeFile(edited, lines.join('\n'));

    const result = await gatehouse(t.url, 'audit', 'verify-file', edited);

    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toContain('NOT whole: content-changed at seq 2 (line 3)');
  });

  it('says plainly when the file is not there', async () => {
    const missing = join(workDir, 'no-such-export.jsonl');

    const result = await gatehouse(t.url, 'audit', 'verify-file', missing);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toMatch(/no such file/i);
    expect(result.stdout).toBe('');
  });
});

describe('gatehouse policy', () => {
  it('checks the example policy and summarises its resources', async () => {
    const result = await gatehouse('postgres://nobody@127.0.0.1:1/none', 'policy', 'gatehouse.example.yml');

    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toMatch(/gatehouse\.example\.yml is valid \(sha256 [0-9a-f]{64}\)/);
    expect(result.stdout).toContain(
      'prod-db-readonly: Production database (read-only); 2 owner(s), 2 approval(s) needed, provisioner none',
    );
  });

  it('rejects a bad file, naming the file and the path of the problem in it', async () => {
    const file = join(workDir, 'bad-policy.yml');
    const example = await readFile('gatehouse.example.yml', 'utf8');
    await writeFile(file, example.replace('max_duration: 4h', 'max_duration: 6 hours'));

    const result = await gatehouse('postgres://nobody@127.0.0.1:1/none', 'policy', file);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`Policy file ${file} is not valid`);
    expect(result.stderr).toContain('resources[0].max_duration');
    expect(result.stdout).toBe('');
  });
});
