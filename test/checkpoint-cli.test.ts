import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebClient } from '@slack/web-api';
import { checkpointSignedBy, parseCheckpoint, signCheckpoint } from '../src/audit/checkpoints/checkpoint.ts';
import { loadCheckpointKey, loadPublicKey } from '../src/audit/checkpoints/keys.ts';
import { listCheckpoints } from '../src/audit/checkpoints/store.ts';
import { checkpointMetadata } from '../src/slack/outbound/channel-anchors.ts';
import { TEST_POLICY } from './support/access.ts';
import { seedEvents, tamper } from './support/audit.ts';
import { tamperCheckpoints } from './support/checkpoints.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import { childEnv, killLeftoverChildren, runNode, type Exit } from './support/process.ts';

const NO_DATABASE = 'postgres://nobody@127.0.0.1:1/none';

function gatehouse(settings: Record<string, string>, ...args: string[]): Promise<Exit> {
  return runNode(['bin/gatehouse.js', ...args], childEnv({ LOG_LEVEL: 'warn', ...settings }));
}

let dir: string;
let t: TestDatabase;
let keyFile: string;
let publicKey: string;
let anchorFile: string;
let bot: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-checkpoint-cli-'));
  t = await createTestDatabase();
  keyFile = join(dir, 'checkpoint-key.pem');
  anchorFile = join(dir, 'anchors.jsonl');
  bot = { DATABASE_URL: t.url, GATEHOUSE_CHECKPOINT_KEY_FILE: keyFile, GATEHOUSE_ANCHOR_FILE: anchorFile };
});
afterAll(async () => {
  await killLeftoverChildren();
  await t.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse audit keygen', () => {
  it('writes a private key only its owner can read, prints the public key, and never replaces a key', async () => {
    const made = await gatehouse({ DATABASE_URL: NO_DATABASE }, 'audit', 'keygen', '--out', keyFile);
    expect(made.code, made.output).toBe(0);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const pem = await readFile(keyFile, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(made.output).not.toContain(pem.split('\n')[1]);
    expect(made.stdout).toContain(`GATEHOUSE_CHECKPOINT_KEY_FILE=${keyFile}`);
    publicKey = /GATEHOUSE_CHECKPOINT_PUBLIC_KEY=([0-9a-f]{64})/.exec(made.stdout)![1]!;

    // Round trip: what the key file signs, the printed public key verifies.
    const key = (await loadCheckpointKey({ privateKeyFile: keyFile }))!;
    expect(key.publicKey.hex).toBe(publicKey);
    expect(made.stdout).toContain(`key id ${key.publicKey.keyId}`);
    const checkpoint = signCheckpoint(
      { logId: 'log-1', seq: 1, hash: '0'.repeat(64), time: '2026-11-27T00:00:00.000000Z', previous: null },
      key,
    );
    expect(checkpointSignedBy(checkpoint, await loadPublicKey(publicKey, '--public-key'))).toBe(true);

    const again = await gatehouse({ DATABASE_URL: NO_DATABASE }, 'audit', 'keygen', '--out', keyFile);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${keyFile} already exists, and keygen never replaces a key`);
    expect(await readFile(keyFile, 'utf8')).toBe(pem);
  });
});

describe('gatehouse audit checkpoint and verify', () => {
  it('says how to make a key when none is set', async () => {
    const result = await gatehouse({ DATABASE_URL: t.url }, 'audit', 'checkpoint');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'No checkpoint signing key is set: set GATEHOUSE_CHECKPOINT_KEY_FILE (or GATEHOUSE_CHECKPOINT_KEY). Make one with `gatehouse audit keygen --out FILE`.',
    );
  });

  it('signs from three processes at once into one checkpoint chain, and appends each to the anchor file', async () => {
    await seedEvents(t, 12);
    const runs = await Promise.all([0, 1, 2].map(() => gatehouse(bot, 'audit', 'checkpoint')));
    for (const run of runs) expect(run.code, run.output).toBe(0);
    expect(runs[0]!.stdout).toMatch(
      /Signed checkpoint #\d: seq 12, hash [0-9a-f]{64}, \S+Z, key [0-9a-f]{16}\.\nAppended to the anchor file/,
    );

    const stored = await listCheckpoints(t.pool);
    expect(stored.map((cp) => cp.previous)).toEqual([null, stored[0]!.signature, stored[1]!.signature]);
    const lines = (await readFile(anchorFile, 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { signature: string }).signature).sort()).toEqual(
      stored.map((cp) => cp.signature).sort(),
    );
  });

  it('verifies the checkpoints and anchors with the public key', async () => {
    const result = await gatehouse(
      { DATABASE_URL: t.url, GATEHOUSE_ANCHOR_FILE: anchorFile },
      'audit',
      'verify',
      '--public-key',
      publicKey,
    );
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain('The audit log is whole: 12 events checked');
    expect(result.stdout).toMatch(
      /✔ checkpoints: 3 checkpoints in the database checked with key [0-9a-f]{16}; newest: seq 12/,
    );
    expect(result.stdout).toContain(`✔ anchors: 3 anchors checked; newest: seq 12 (${anchorFile} line 3)`);
    expect(result.stdout).not.toContain('⚠');

    const json = await gatehouse(
      { DATABASE_URL: t.url, GATEHOUSE_CHECKPOINT_PUBLIC_KEY: publicKey },
      'audit',
      'verify',
      '--json',
      '--anchors',
      anchorFile,
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: true,
      signed: true,
      headSeq: 12,
      anchors: { checked: 3 },
      problems: [],
    });
  });

  it('without a public key, still verifies the chain but warns that truncation cannot be detected', async () => {
    const result = await gatehouse({ DATABASE_URL: t.url }, 'audit', 'verify');
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain('⚠ No checkpoint public key was given');
    expect(result.stdout).toContain('CANNOT be detected');

    const json = await gatehouse({ DATABASE_URL: t.url }, 'audit', 'verify', '--json');
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(['ok', 'checked', 'headSeq', 'headHash', 'failure']);
    expect(json.stderr).toContain('warning: No checkpoint public key was given');

    const anchorsAlone = await gatehouse({ DATABASE_URL: t.url }, 'audit', 'verify', '--anchors', anchorFile);
    expect(anchorsAlone.code).toBe(2);
    expect(anchorsAlone.stderr).toContain('pass --public-key KEY_OR_FILE, or set GATEHOUSE_CHECKPOINT_PUBLIC_KEY');
  });

  it('verifies an export with no database from the public key and the anchor file, and catches it truncated', async () => {
    const exported = join(dir, 'audit.jsonl');
    expect((await gatehouse({ DATABASE_URL: t.url }, 'audit', 'export', '--out', exported)).code).toBe(0);
    const whole = await gatehouse(
      { DATABASE_URL: NO_DATABASE },
      'audit',
      'verify-file',
      exported,
      '--public-key',
      publicKey,
      '--anchors',
      anchorFile,
    );
    expect(whole.code, whole.output).toBe(0);
    expect(whole.stdout).toContain(`✔ anchors: 3 anchors checked; newest: seq 12`);

    // The export is self-contained: a header naming the log and key, the 3 checkpoints, the 12 events.
    const lines = (await readFile(exported, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(16);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'gatehouse audit export', v: 3 });

    // No key: the checkpoints' chain and holds are checked, their signatures not, and it says so.
    const unsigned = await gatehouse({ DATABASE_URL: NO_DATABASE }, 'audit', 'verify-file', exported);
    expect(unsigned.code, unsigned.output).toBe(0);
    const keyId = (JSON.parse(lines[1]!) as { key_id: string }).key_id;
    expect(unsigned.stdout).toContain(`signatures NOT checked (they name key ${keyId})`);
    expect(unsigned.stdout).toContain(`which name key ${keyId}) were NOT checked`);
    const unsignedJson = await gatehouse({ DATABASE_URL: NO_DATABASE }, 'audit', 'verify-file', exported, '--json');
    expect(JSON.parse(unsignedJson.stdout)).toMatchObject({
      ok: true,
      signed: false,
      bundle: { claimedKeyId: keyId, checked: 3, latestSeq: 12 },
    });

    const truncated = join(dir, 'truncated.jsonl');
    await writeFile(truncated, `${lines.slice(0, 13).join('\n')}\n`);
    const cutUnsigned = await gatehouse({ DATABASE_URL: NO_DATABASE }, 'audit', 'verify-file', truncated);
    expect(cutUnsigned.code, cutUnsigned.output).toBe(1);
    expect(cutUnsigned.stdout).toContain(
      `✘ ${truncated} is NOT whole: truncated at seq 12, caught by ${truncated} line 2.`,
    );
    const [lastAnchor] = (await readFile(anchorFile, 'utf8')).trimEnd().split('\n').slice(-1);
    const caught = await gatehouse(
      { DATABASE_URL: NO_DATABASE },
      'audit',
      'verify-file',
      truncated,
      '--public-key',
      publicKey,
      '--checkpoint',
      lastAnchor!,
    );
    expect(caught.code, caught.output).toBe(1);
    expect(caught.stdout).toContain(`✘ ${truncated} is NOT whole: truncated at seq 12, caught by --checkpoint.`);
    expect(caught.stdout).toContain('The hash chain itself holds: 9 events checked');
  });

  it('names the anchor that caught events deleted together with their checkpoints', async () => {
    await tamper(t, 'delete from audit_events where seq > 5');
    await tamperCheckpoints(t, 'delete from audit_checkpoints');
    const result = await gatehouse({ ...bot, GATEHOUSE_CHECKPOINT_PUBLIC_KEY: publicKey }, 'audit', 'verify');
    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toContain(
      `✘ The audit log is NOT whole: truncated at seq 12, caught by ${anchorFile} line 1.`,
    );
    expect(result.stdout).toContain('the log in the database ends at seq 5: 7 events after seq 5 were deleted');

    // The signer reads back its anchor file and will not vouch for the shortened log.
    const refused = await gatehouse(bot, 'audit', 'checkpoint');
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain(
      `refused to sign a checkpoint: the log's head is seq 5, behind the newest anchor (${anchorFile} (last line): seq 12`,
    );
    expect(await listCheckpoints(t.pool)).toEqual([]);
  });
});

describe('gatehouse audit verify with the audit channel', () => {
  let fake: FakeSlack;
  let slackEnv: Record<string, string>;

  beforeAll(async () => {
    fake = await FakeSlack.start();
    const policyFile = join(dir, 'gatehouse.yml');
    await writeFile(policyFile, TEST_POLICY);
    slackEnv = {
      DATABASE_URL: t.url,
      GATEHOUSE_POLICY: policyFile,
      SLACK_BOT_TOKEN: 'xoxb-test-token',
      SLACK_API_URL: fake.apiUrl,
      GATEHOUSE_CHECKPOINT_PUBLIC_KEY: publicKey,
    };
    // The checkpoints the bot posted, as the channel holds them.
    const client = new WebClient('xoxb-test-token', { slackApiUrl: fake.apiUrl });
    for (const line of (await readFile(anchorFile, 'utf8')).trimEnd().split('\n')) {
      const checkpoint = parseCheckpoint(line);
      await client.chat.postMessage({
        channel: 'C0AUDIT01',
        text: `checkpoint ${checkpoint.seq}`,
        metadata: checkpointMetadata(checkpoint),
      });
    }
  });
  afterAll(async () => {
    await fake.stop();
  });

  it('reads the checkpoints back from the channel and names the message that caught the deletion', async () => {
    // The database lost seq 6 to 12 and every checkpoint (above); no anchor file is given here.
    const result = await gatehouse(slackEnv, 'audit', 'verify');
    expect(result.code, result.output).toBe(1);
    expect(result.stdout).toMatch(
      /✘ The audit log is NOT whole: truncated at seq 12, caught by audit channel C0AUDIT01 message \d+\.\d+\./,
    );
    expect(result.stdout).toContain('note: 3 checkpoints were read back from the audit channel C0AUDIT01.');

    const without = await gatehouse(slackEnv, 'audit', 'verify', '--no-slack');
    expect(without.code, without.output).toBe(0);
    expect(without.stdout).toContain('⚠ No anchors were read');
  });

  it('says so when Slack cannot be read, and still checks the rest', async () => {
    fake.failNext('conversations.history', { status: 500 }, 3);
    const result = await gatehouse(slackEnv, 'audit', 'verify');
    expect(result.code, result.output).toBe(0);
    expect(result.stdout).toContain(
      "note: The audit channel's checkpoints were NOT checked: could not read the audit channel C0AUDIT01 back from Slack",
    );
  });
});
