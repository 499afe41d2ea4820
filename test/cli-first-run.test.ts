import { spawn } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.ts';
import { generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { makeCheckpoint } from '../src/audit/checkpoints/store.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { EmbeddedCluster } from '../src/db/embedded.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { silentLogger } from '../src/log.ts';
import { childEnv, PROJECT_ROOT, type Exit } from './support/process.ts';
import type { TestAuditAction } from './support/db.ts';

const GATEHOUSE = join(PROJECT_ROOT, 'bin', 'gatehouse.js');

/** `gatehouse <args>` as someone runs it from `cwd`, with no database setting at all. */
function gatehouseIn(cwd: string, ...args: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GATEHOUSE, ...args], {
      cwd,
      env: childEnv({ LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, output: `${stdout}\n${stderr}` }));
  });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** A directory every user can traverse: as root the embedded server runs as `postgres`. */
async function openDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

const dirs: string[] = [];
let sandboxCluster: EmbeddedCluster | null = null;

afterAll(async () => {
  await sandboxCluster?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('gatehouse in a directory where Gatehouse never ran', () => {
  let empty: string;

  beforeAll(async () => {
    empty = await openDir('gatehouse-first-run-');
    dirs.push(empty);
  });

  it('verify creates no database, names every place it looked, and says what to set', async () => {
    const result = await gatehouseIn(empty, 'audit', 'verify');

    expect(result.code, result.output).toBe(2);
    expect(result.stderr).toContain('No Gatehouse database was found, and none was created.');
    expect(result.stderr).toContain(`${join(empty, '.data')}: the app's, GATEHOUSE_DATA_DIR unset, so .data`);
    expect(result.stderr).toContain(`${join(empty, '.data', 'sandbox')}: the sandbox's, made by npm run sandbox`);
    expect(result.stderr).toContain('set GATEHOUSE_DATA_DIR');
    expect(result.stderr).toContain('DATABASE_URL');
    expect(result.output).not.toContain('gatehouse migrate');
    expect(await exists(join(empty, '.data'))).toBe(false);
  });

  it('export and session create nothing either', async () => {
    const exported = await gatehouseIn(empty, 'audit', 'export', '--out', 'audit.jsonl');
    const session = await gatehouseIn(empty, 'audit', 'session', 'ses_x');

    for (const result of [exported, session]) {
      expect(result.code, result.output).toBe(2);
      expect(result.stderr).toContain(join(empty, '.data', 'sandbox'));
    }
    expect(await exists(join(empty, '.data'))).toBe(false);
    expect(await exists(join(empty, 'audit.jsonl'))).toBe(false);
  });
});

describe("gatehouse beside the sandbox's data", () => {
  let checkout: string;
  let sandboxDir: string;
  let keyId: string;

  beforeAll(async () => {
    // What `npm run sandbox` leaves in a checkout: .data/sandbox/ with its cluster and its key.
    checkout = await openDir('gatehouse-sandbox-run-');
    dirs.push(checkout);
    sandboxDir = join(checkout, '.data', 'sandbox');
    await mkdir(sandboxDir, { recursive: true, mode: 0o755 });
    await chmod(join(checkout, '.data'), 0o755);
    sandboxCluster = await EmbeddedCluster.open({ dataDir: sandboxDir, log: silentLogger() });
    const pool = createPool(sandboxCluster.url(), 2);
    const db = createDb(pool);
    try {
      await migrateToLatest(db);
      const audit = new AuditLog<TestAuditAction>(db, pool, silentLogger());
      for (let n = 1; n <= 3; n += 1) {
        await audit.record({ actor: 'system', action: 'test.event', subject: 'x', body: { n } });
      }
      await audit.flush();
      await audit.sequencer.stop();
      const { key, pem } = generateCheckpointKey();
      keyId = key.publicKey.keyId;
      await writeFile(join(sandboxDir, 'checkpoint-key.pem'), pem, { mode: 0o600 });
      await makeCheckpoint(db, key);
    } finally {
      await db.destroy();
    }
  }, 120_000);

  it("verifies the sandbox's log with no setting, and says which database and which key it trusted", async () => {
    const result = await gatehouseIn(checkout, 'audit', 'verify');

    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain('The audit log is whole: 3 events checked');
    expect(result.stdout).toContain(`Read the embedded database in ${sandboxDir}, the sandbox's`);
    expect(result.stdout).toContain(
      `checked with the signing key read from ${join(sandboxDir, 'checkpoint-key.pem')}, the key the sandbox made beside its data: key id ${keyId}.`,
    );
    expect(result.stdout).toContain(
      'A key read on the machine that holds the log proves less than a public key kept elsewhere',
    );
    expect(result.stdout).toMatch(/checkpoint in the database checked with key/);
    expect(result.output).not.toContain('CANNOT be detected');
    // The app's own place stays as it was: nothing was made there.
    expect(await exists(join(checkout, '.data', 'pg'))).toBe(false);
  });

  it('starts a stopped cluster to read it, and stops it again', async () => {
    await sandboxCluster?.stop();
    sandboxCluster = null;

    const result = await gatehouseIn(checkout, 'audit', 'verify', '--json');

    expect(result.code, result.output).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, signed: true, checked: 3, keyId });
    expect(await exists(join(sandboxDir, 'pg', 'postmaster.pid'))).toBe(false);
  });
});
