import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/env.ts';
import { silentLogger } from '../src/log.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, runNode } from './support/process.ts';

const ANA = 'U0SBPANA1';
const DANA = 'U0SBPDANA';

const POLICY = `
audit_channel: C0SBPAUDIT
groups:
  contractors:
    - ${ANA} # Ana
  owners:
    - ${DANA} # Dana
resources:
  - id: staging-db
    name: Staging database
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: none }
`;

let workDir: string;
let policyFile: string;
const databases: TestDatabase[] = [];

async function database(): Promise<TestDatabase> {
  const t = await createTestDatabase({ migrate: false });
  databases.push(t);
  return t;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'gatehouse-sandbox-provisioning-'));
  policyFile = join(workDir, 'gatehouse.yml');
  await writeFile(policyFile, POLICY);
});

afterAll(async () => {
  for (const t of databases) await t.destroy();
  await rm(workDir, { recursive: true, force: true });
});

describe('the sandbox in production', () => {
  it('is refused at start-up with NODE_ENV=production, naming the setting and what to do instead, before anything is touched', async () => {
    const t = await database();
    const settings = { NODE_ENV: 'production', DATABASE_URL: t.url, GATEHOUSE_POLICY: policyFile, PORT: '0', GATEHOUSE_SANDBOX_PORT: '0', LOG_LEVEL: 'info' };
    // `npm run sandbox`, even with every Slack setting a production start has.
    const exit = await runNode(
      ['--import', 'tsx', 'src/main.ts', '--sandbox'],
      childEnv({ ...settings, SLACK_BOT_TOKEN: 'xoxb-production-token', SLACK_SIGNING_SECRET: 'production-secret', GATEHOUSE_SECRETS_KEY: randomBytes(32).toString('hex') }),
    );
    expect(exit.code, exit.output).toBe(1);
    expect(exit.stderr).toContain('The local Slack sandbox does not run with NODE_ENV=production');
    expect(exit.stderr).toContain('run `npm start` without --sandbox');
    // Refused before the database was opened: nothing migrated, nothing recorded.
    expect((await t.query(`select 1 from pg_tables where schemaname = 'public'`)).rowCount).toBe(0);

    // And whoever calls it in code.
    await expect(startSandbox(loadConfig(settings), silentLogger())).rejects.toThrow(ConfigError);
  }, 60_000);
});
