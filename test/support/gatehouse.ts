import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/env.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/boot/gatehouse.ts';
import { TEST_POLICY } from './access.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { FakeSlack } from '../../src/sandbox/fake-slack/fake-slack.ts';
import { SlackDriver } from '../../src/sandbox/fake-slack/driver.ts';

export const SIGNING_SECRET = 'test-signing-secret';

export interface RunningBot {
  gatehouse: Gatehouse;
  fake: FakeSlack;
  slack: SlackDriver;
  t: TestDatabase;
  /** Every audit event chained and posted to the audit channel. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The real app, started as in production (HTTP mode), on a fresh database, talking to a
 * fake Slack on loopback. Returns it with a driver that sends signed requests to it.
 */
export async function startBot(
  options: { policy?: string; env?: Record<string, string>; fake?: FakeSlack; t?: TestDatabase; log?: Logger } = {},
): Promise<RunningBot> {
  const fake = options.fake ?? (await FakeSlack.start());
  const t = options.t ?? (await createTestDatabase({ migrate: false }));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-bot-'));
  const policyFile = path.join(dir, 'gatehouse.yml');
  await fs.writeFile(policyFile, options.policy ?? TEST_POLICY);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: t.url,
    GATEHOUSE_POLICY: policyFile,
    PORT: '0',
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    AUDIT_SEQUENCER_INTERVAL_MS: '20',
    ...options.env,
  });
  const gatehouse = await startGatehouse(config, options.log ?? silentLogger());
  const slack = new SlackDriver({
    url: `http://127.0.0.1:${gatehouse.port}/slack/events`,
    signingSecret: SIGNING_SECRET,
    fake,
  });
  const settle = async () => {
    await gatehouse.audit.flush();
    const head = await gatehouse.audit.verify();
    const target = head.headSeq ?? 0;
    const posted = async () =>
      (await gatehouse.database.db.selectFrom('audit_channel_state').select('posted_seq').executeTakeFirstOrThrow())
        .posted_seq;
    if ((await posted()) >= target) return;
    await fake.waitForCall(
      'chat.postMessage',
      (call) => {
        const meta = call.args.metadata as { event_payload?: { last_seq?: number } } | undefined;
        return (meta?.event_payload?.last_seq ?? 0) >= target;
      },
      { timeoutMs: 30_000 },
    );
    // The post is answered before the cursor commits: wait for the commit too.
    while ((await posted()) < target) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    gatehouse,
    fake,
    slack,
    t,
    settle,
    async stop() {
      await gatehouse.stop();
      if (!options.fake) await fake.stop();
      if (!options.t) await t.destroy();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
