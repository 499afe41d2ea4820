import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/env.ts';
import { createLogger, silentLogger } from '../src/log.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { namesFromComments } from '../src/sandbox/workspace.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { logLines } from './support/process.ts';

const ANA = 'U0SBXANA';
const FATIMA = 'U0SBXFATI';
const AUDIT_CHANNEL = 'C0SBXAUDIT';

interface ShownMessage {
  text: string;
  ephemeral: boolean;
  blocks?: unknown[];
}

/** What the page does: POST /sandbox/do/<action> with a JSON body. */
async function act(
  sandbox: Sandbox,
  action: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${sandbox.url}sandbox/do/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** What the page shows `userId` in `channel`. */
async function shown(sandbox: Sandbox, userId: string, channel: string): Promise<ShownMessage[]> {
  const state = (await (await fetch(`${sandbox.url}sandbox/state?user=${userId}`)).json()) as {
    channels: Record<string, ShownMessage[]>;
  };
  return state.channels[channel] ?? [];
}

const everything = (messages: ShownMessage[]) =>
  messages.map((m) => `${m.text} ${JSON.stringify(m.blocks ?? [])}`).join('\n');

/** A config as `npm start` reads it with no Slack settings, on `settings`. */
function sandboxConfig(settings: Record<string, string>): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    GATEHOUSE_SANDBOX_PORT: '0',
    AUDIT_SEQUENCER_INTERVAL_MS: '20',
    ...settings,
  });
}

describe('the sandbox with no policy file', () => {
  let t: TestDatabase;
  let sandbox: Sandbox;
  const output = new PassThrough();
  let logged = '';

  beforeAll(async () => {
    output.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    t = await createTestDatabase({ migrate: false });
    // As `npm start` in a checkout without gatehouse.yml and without GATEHOUSE_POLICY.
    const config = {
      ...sandboxConfig({ DATABASE_URL: t.url }),
      policyFile: join(tmpdir(), 'no-such-dir', 'gatehouse.yml'),
      policyFileExplicit: false,
    };
    sandbox = await startSandbox(config, createLogger({ level: 'info', destination: output, pretty: false }));
  });

  afterAll(async () => {
    await sandbox?.stop();
    await t?.destroy();
  });

  it('runs on the demo policy and says so: its contractors, owners and auditor are whom you can be', () => {
    expect(logLines(logged).map((line) => line.msg)).toContainEqual(
      expect.stringContaining('the sandbox runs on its demo policy'),
    );
    const people = Object.fromEntries(sandbox.workspace.people.map((p) => [p.name, p.roles]));
    expect(people['Ana']).toContain('contractors');
    expect(people['Dana']).toContain('owner of prod-db');
    expect(people['Fatima']).toContain('auditors');
    expect(sandbox.workspace.channels.map((c) => c.id)).toEqual([AUDIT_CHANNEL, 'C0SBXDBTEAM']);
  });

  it("shows a command's ack to whoever typed it, and answers an unknown command as Slack does", async () => {
    const sent = sandbox.fake.sentToApp.length;
    expect(
      (await act(sandbox, 'command', { user: FATIMA, channel: AUDIT_CHANNEL, text: '/verify-audit' })).status,
    ).toBe(200);
    expect(
      (await act(sandbox, 'command', { user: FATIMA, channel: AUDIT_CHANNEL, text: '/grant-me-everything now' }))
        .status,
    ).toBe(200);
    const fatimaSees = await shown(sandbox, FATIMA, AUDIT_CHANNEL);
    expect(fatimaSees.filter((m) => m.ephemeral).map((m) => m.text)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Verifying the audit log'),
        '/grant-me-everything is not a valid command. This app has /request-access, /access, /verify-audit.',
      ]),
    );
    expect((await shown(sandbox, ANA, AUDIT_CHANNEL)).filter((m) => m.ephemeral)).toEqual([]);
    // Only the command the app has reached it, signed as a slash command.
    expect(
      sandbox.fake.sentToApp.slice(sent).map((request) => new URLSearchParams(request.body).get('command')),
    ).toEqual(['/verify-audit']);
  });

  // The background thread may still be delivering what start-up queued (the policy event,
  // the first checkpoint, Home tabs), so these count only what the page passed on to the
  // app, and look for calls that could only have come from the refused requests.
  it('refuses what the page sends malformed, and never passes it on to the app', async () => {
    const sent = sandbox.fake.sentToApp.length;
    const calls = sandbox.fake.calls.length;
    expect(
      await act(sandbox, 'command', { user: 'not-a-user', channel: AUDIT_CHANNEL, text: '/access' }),
    ).toMatchObject({ status: 400 });
    expect(await act(sandbox, 'click', { user: ANA, actionId: 'x' })).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('surface') },
    });
    expect(await act(sandbox, 'nonsense', { user: ANA })).toMatchObject({ status: 404 });
    expect(sandbox.fake.sentToApp.slice(sent)).toEqual([]);
    expect(sandbox.fake.calls.slice(calls).filter((call) => JSON.stringify(call.args).includes('not-a-user'))).toEqual(
      [],
    );
  });

  it('takes what people do only from its own page, never from another site open in the browser', async () => {
    const sent = sandbox.fake.sentToApp.length;
    const calls = sandbox.fake.calls.length;
    const forged = await fetch(`${sandbox.url}sandbox/do/command`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
      body: JSON.stringify({ user: ANA, channel: `D${ANA}`, text: '/request-access staging-db 1h forged' }),
    });
    expect(forged.status).toBe(403);
    expect(sandbox.fake.sentToApp.slice(sent)).toEqual([]);
    expect(sandbox.fake.calls.slice(calls).filter((call) => JSON.stringify(call.args).includes('forged'))).toEqual([]);
    expect(
      (await fetch(`${sandbox.url}sandbox/state?user=${ANA}`, { headers: { origin: 'http://evil.example' } })).status,
    ).toBe(403);
  });
});

describe('the sandbox on its embedded database', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-sandbox-'));
    // As root the cluster runs as `postgres`, which must be able to reach its directory.
    await chmod(dataDir, 0o755);
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the channels, the chain, its checkpoints and the keys it made across a restart', async () => {
    const config = sandboxConfig({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_POLICY: 'src/sandbox/demo-policy.yml' });
    const first = await startSandbox(config, silentLogger());
    try {
      await act(first, 'command', {
        user: ANA,
        channel: `D${ANA}`,
        text: '/request-access staging-db 1h survive a restart',
      });
      await first.gatehouse.audit.flush();
      await first.fake.waitForCall(
        'chat.postMessage',
        (call) => call.args.channel === AUDIT_CHANNEL && JSON.stringify(call.args).includes('request.created'),
      );
    } finally {
      await first.stop();
    }

    // The keys it made (checkpoints, and GATEHOUSE_SECRETS_KEY for MFA) are for this user's eyes only.
    for (const key of ['checkpoint-key.pem', 'secrets-key'])
      expect((await stat(join(dataDir, 'sandbox', key))).mode & 0o777).toBe(0o600);
    const second = await startSandbox(config, silentLogger());
    try {
      const before = everything(await shown(second, FATIMA, AUDIT_CHANNEL));
      expect(before).toContain('request.created');
      // The checkpoint signed at the first stop was posted before it, and is there again.
      expect(before).toContain('Audit checkpoint');
      await act(second, 'command', { user: FATIMA, channel: AUDIT_CHANNEL, text: '/verify-audit' });
      const verdict = await second.fake.waitForResponse((r) => String(r.body.text).includes('The audit log'));
      expect(String(verdict.body.text)).toContain('The audit log is whole');
      expect(JSON.stringify(verdict.body.blocks)).not.toContain('CANNOT');
    } finally {
      await second.stop();
    }
  }, 120_000);
});

describe('names from the policy file', () => {
  it('reads the comment beside each id, as gatehouse.example.yml writes them', () => {
    const names = namesFromComments(
      'groups:\n  a:\n    - U05CNTR0001 # Ana (Acme Consulting)\n    - U02DBA00001 # Dana, database lead\n    - U09NONAME1\n',
    );
    expect([...names]).toEqual([
      ['U05CNTR0001', 'Ana'],
      ['U02DBA00001', 'Dana'],
    ]);
  });
});
