import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { appendFile, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCheckpointKey } from '../src/audit/checkpoints/keys.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';
import {
  childEnv,
  freePort,
  killLeftoverChildren,
  LEVEL,
  logLines,
  runNode,
  startNode,
  type Child,
  type Exit,
} from './support/process.ts';

const HEALTH_LINE = 'health endpoints';

interface Running {
  child: Child;
  port: number;
}

/** `npm start` with `settings` on top of what every start needs: a database, a port, a policy file. */
async function startGatehouse(
  t: TestDatabase,
  policyFile: string,
  settings: Record<string, string> = {},
): Promise<Running> {
  // Port 0: the app and (without Slack settings) the sandbox's stand-in each take a free
  // port when they listen. A port probed beforehand could be taken by the stand-in first.
  const env = childEnv({
    DATABASE_URL: t.url,
    PORT: '0',
    GATEHOUSE_POLICY: policyFile,
    GATEHOUSE_SANDBOX_PORT: '0',
    LOG_LEVEL: 'info',
    ...settings,
  });
  const child = startNode(['--import', 'tsx', 'src/main.ts'], env);
  const line = await child.waitForLine((text) => text.includes(HEALTH_LINE));
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

/** SIGTERM, as a process manager stops it; the stop must be clean. */
async function stopCleanly({ child }: Running): Promise<Exit> {
  const exit = await child.stop('SIGTERM');
  expect(exit.code, exit.output).toBe(0);
  expect(logLines(exit.stdout).map((line) => line.msg)).toContain('stopped cleanly');
  return exit;
}

/** A start that must fail: its exit, with all it printed. */
function startAndFail(settings: Record<string, string>): Promise<Exit> {
  return runNode(
    ['--import', 'tsx', 'src/main.ts'],
    childEnv({ LOG_LEVEL: 'info', GATEHOUSE_SANDBOX_PORT: '0', ...settings }),
  );
}

async function get(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.json() };
}

interface PolicyLoaded {
  sha256: string;
  previous_sha256: string | null;
  file: string;
  resources: string[];
}

/** The policy.loaded events on the record, oldest first. */
async function policyEvents(t: TestDatabase): Promise<PolicyLoaded[]> {
  const result = await t.query<{ body: PolicyLoaded }>(
    `select body from audit_log where action = 'policy.loaded' order by seq`,
  );
  return result.rows.map((row) => row.body);
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

let workDir: string;
const databases: TestDatabase[] = [];

async function database(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const t = await createTestDatabase(options);
  databases.push(t);
  return t;
}

/** A private copy of the example policy, as an operator starts from. */
async function policyCopy(name: string): Promise<string> {
  const file = join(workDir, name);
  await copyFile('gatehouse.example.yml', file);
  return file;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'gatehouse-startup-'));
});

afterAll(async () => {
  await killLeftoverChildren();
  await Promise.all(databases.map((t) => t.destroy()));
  await rm(workDir, { recursive: true, force: true });
});

describe('npm start with no Slack credentials', () => {
  it('migrates a new database, answers /healthz and /readyz, runs the local Slack sandbox on the policy given, and stops cleanly', async () => {
    const t = await database({ migrate: false });
    const running = await startGatehouse(t, await policyCopy('gatehouse.yml'));

    expect(await get(running.port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get(running.port, '/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
    const line = await running.child.waitForLine((l) => l.includes('Slack sandbox: open'));
    const url = (JSON.parse(line) as { url: string }).url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Gatehouse sandbox</title>');
    // The people of the policy file, named from its comments, are whom the page lets you be.
    const workspace = (await (await fetch(`${url}sandbox/workspace`)).json()) as {
      people: { id: string; name: string }[];
    };
    expect(workspace.people).toContainEqual(expect.objectContaining({ id: 'U05CNTR0001', name: 'Ana' }));
    expect(workspace.people).toContainEqual(expect.objectContaining({ id: 'U03AUD00001', name: 'Fatima' }));

    const exit = await stopCleanly(running);
    const logs = logLines(exit.stdout);
    expect(logs.find((l) => l.msg === 'database migrations applied')).toBeDefined();
    // The background thread's lines come out of the same stdout, as JSON like the rest.
    expect(logs.find((l) => l.thread === 'background' && l.msg.startsWith('background work started'))).toBeDefined();
    expect(logs.find((l) => l.msg === 'connected to Slack')).toMatchObject({ mode: 'http' });
    const sandboxLine = logs.find((l) => l.msg.startsWith('Slack sandbox: open'));
    expect(sandboxLine?.msg).toContain('SLACK_BOT_TOKEN');
    expect(sandboxLine?.msg).toContain('SLACK_SIGNING_SECRET');
  });

  it('is a start-up error in production, which never becomes a sandbox', async () => {
    const t = await database();
    const exit = await startAndFail({
      NODE_ENV: 'production',
      DATABASE_URL: t.url,
      PORT: String(await freePort()),
      GATEHOUSE_POLICY: await policyCopy('production.yml'),
    });

    expect(exit.code, exit.output).toBe(1);
    expect(exit.stderr).toContain('Slack is not configured: set SLACK_BOT_TOKEN');
    expect(exit.output).not.toContain('sandbox');
    expect(await policyEvents(t)).toEqual([]);
  });

  it('npm run sandbox runs the sandbox even where Slack is configured, and says the settings are ignored', async () => {
    const t = await database();
    const port = await freePort();
    const env = childEnv({
      DATABASE_URL: t.url,
      PORT: String(port),
      GATEHOUSE_POLICY: await policyCopy('explicit.yml'),
      GATEHOUSE_SANDBOX_PORT: '0',
      SLACK_BOT_TOKEN: 'xoxb-real-looking-token',
      SLACK_SIGNING_SECRET: 'real-looking-secret',
      LOG_LEVEL: 'info',
    });
    const script = (JSON.parse(await readFile('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts
      .sandbox;
    expect(script).toBe('node --import tsx src/main.ts --sandbox');
    const child = startNode(['--import', 'tsx', 'src/main.ts', '--sandbox'], env);
    await child.waitForLine((l) => l.includes('Slack sandbox: open'));
    const exit = await stopCleanly({ child, port });
    expect(logLines(exit.stdout).find((l) => l.level === LEVEL.warn && l.msg.startsWith('--sandbox'))?.msg).toContain(
      'ignored',
    );
    expect(exit.output).not.toContain('xoxb-real-looking-token');
  });
});

describe('the policy on the record', () => {
  it('records the file once, and again only when it changes, linked to the hash before', async () => {
    const t = await database();
    const file = await policyCopy('recorded.yml');
    const firstHash = await sha256Of(file);

    await stopCleanly(await startGatehouse(t, file));
    expect(await policyEvents(t)).toEqual([
      {
        sha256: firstHash,
        previous_sha256: null,
        file,
        resources: ['prod-db-readonly', 'staging-db', 'audit-exports'],
      },
    ]);

    await stopCleanly(await startGatehouse(t, file));
    expect(await policyEvents(t)).toHaveLength(1);

    await appendFile(file, '# reviewed by the security team\n');
    const secondHash = await sha256Of(file);
    await stopCleanly(await startGatehouse(t, file));
    const events = await policyEvents(t);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ sha256: secondHash, previous_sha256: firstHash });
    // Three starts and stops of the whole app (each with the sandbox) on a busy two-core machine.
  }, 90_000);
});

describe('a start that cannot go ahead', () => {
  it('stops on a bad policy file, naming the file and the setting to fix', async () => {
    const t = await database();
    const file = join(workDir, 'bad.yml');
    await writeFile(
      file,
      (await readFile('gatehouse.example.yml', 'utf8')).replace('max_duration: 4h', 'max_duration: 6 hours'),
    );

    const exit = await startAndFail({ DATABASE_URL: t.url, PORT: String(await freePort()), GATEHOUSE_POLICY: file });

    expect(exit.code, exit.output).toBe(1);
    const fatal = logLines(exit.stdout).find((line) => line.level === LEVEL.fatal);
    expect(fatal?.msg).toContain(`Policy file ${file} is not valid`);
    expect(fatal?.msg).toContain('resources[0].max_duration');
    expect(await policyEvents(t)).toEqual([]);
  });

  it('stops on a policy that uses MFA without GATEHOUSE_SECRETS_KEY, saying how to make one', async () => {
    const t = await database();
    const file = join(workDir, 'mfa.yml');
    await writeFile(
      file,
      (await readFile('gatehouse.example.yml', 'utf8')).replace('# require_mfa: true', 'require_mfa: true'),
    );

    const exit = await startAndFail({ DATABASE_URL: t.url, PORT: String(await freePort()), GATEHOUSE_POLICY: file });

    expect(exit.code, exit.output).toBe(1);
    const fatal = logLines(exit.stdout).find((line) => line.level === LEVEL.fatal);
    expect(fatal?.msg).toContain('resources[0] (prod-db-readonly) sets require_mfa');
    expect(fatal?.msg).toContain('GATEHOUSE_SECRETS_KEY is not set');
    expect(fatal?.msg).toContain('openssl rand -hex 32');
    expect(await policyEvents(t)).toEqual([]);
  });

  it('stops on a port already in use, saying which setting to change', async () => {
    const t = await database();
    const taken = net.createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const exit = await startAndFail({
        DATABASE_URL: t.url,
        PORT: String(port),
        GATEHOUSE_POLICY: await policyCopy('port.yml'),
      });
      expect(exit.code, exit.output).toBe(1);
      expect(exit.stdout).toContain(`PORT ${port} is already in use: set PORT to a free port.`);
    } finally {
      taken.close();
    }
  });

  it("stops when the sandbox's port is taken, saying which setting to change", async () => {
    const t = await database();
    const taken = net.createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const exit = await startAndFail({
        DATABASE_URL: t.url,
        PORT: String(await freePort()),
        GATEHOUSE_SANDBOX_PORT: String(port),
        GATEHOUSE_POLICY: await policyCopy('sandbox-port.yml'),
      });
      expect(exit.code, exit.output).toBe(1);
      expect(exit.stdout).toContain(
        `GATEHOUSE_SANDBOX_PORT ${port} is already in use: set GATEHOUSE_SANDBOX_PORT to a free port (0 picks one).`,
      );
    } finally {
      taken.close();
    }
  });

  it('stops on an invalid environment variable, naming it', async () => {
    const exit = await startAndFail({ PORT: 'abc', GATEHOUSE_POLICY: await policyCopy('env.yml') });

    expect(exit.code, exit.output).toBe(1);
    expect(exit.stderr).toContain('Invalid environment');
    expect(exit.stderr).toMatch(/^\s*PORT: /m);
  });
});

describe('secrets', () => {
  const checkpointKey = generateCheckpointKey();
  it('never appear in the logs, even at the most detailed level', async () => {
    const t = await database();
    const fake = await FakeSlack.start();
    const running = await startGatehouse(t, await policyCopy('secrets.yml'), {
      SLACK_BOT_TOKEN: 'xoxb-secret-token-123',
      SLACK_SIGNING_SECRET: 'shh-signing-456',
      SLACK_API_URL: fake.apiUrl,
      LOG_LEVEL: 'trace',
      GATEHOUSE_CHECKPOINT_KEY: checkpointKey.pem,
    });
    const exit = await stopCleanly(running);
    await fake.stop();
    expect(logLines(exit.stdout).some((line) => line.msg === 'connected to Slack')).toBe(true);
    // The background thread logs its Slack calls at this level too, through the same redaction.
    expect(logLines(exit.stdout).some((line) => line.thread === 'background' && line.component === 'bolt')).toBe(true);

    expect(exit.output).not.toContain('xoxb-secret-token-123');
    expect(exit.output).not.toContain('shh-signing-456');
    // The checkpoint key: its private half never, its public half for auditors.
    expect(exit.output).not.toContain(checkpointKey.pem.split('\n')[1]);
    expect(exit.stdout).toContain(
      `Auditors verify with: gatehouse audit verify --public-key ${checkpointKey.key.publicKey.hex}`,
    );
    const databasePassword = new URL(t.url).password;
    if (databasePassword) expect(exit.output).not.toContain(databasePassword);
    expect(logLines(exit.stdout).some((line) => line.msg.startsWith('Slack is not configured'))).toBe(false);
  });
});
