import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/env.ts';
import { createLogger } from '../src/log.ts';
import { startGatehouse, type Gatehouse } from '../src/boot/gatehouse.ts';
import type { FakeSlackProcess } from './fake-slack-process.ts';

export const BENCH_SIGNING_SECRET = 'bench-signing-secret';
export const BENCH_BOT_TOKEN = 'xoxb-bench-token';
export const OWNERS = ['U0OWNER01', 'U0OWNER02'] as const;

/** The i-th contractor of the benchmark policies: U0C000000, U0C000001 … */
export function contractorId(i: number): string {
  return `U0C${String(i).padStart(6, '0')}`;
}

/** `contractors: [U0C000000, …]`, one group of `count` people. */
export function contractorsGroup(count: number): string {
  return `contractors: [${Array.from({ length: count }, (_, i) => contractorId(i)).join(', ')}]`;
}

export interface BenchGatehouse {
  gatehouse: Gatehouse;
  /** Where Slack would POST commands and interactions. */
  eventsUrl: string;
  /** Stops the app; returns its warnings and errors, counted by message. */
  stop(): Promise<Record<string, number>>;
}

/**
 * The real app as production runs it (HTTP mode, default settings unless `env` says
 * otherwise, checkpoints signed with a throwaway key), on `databaseUrl`, talking to the
 * fake Slack process. It logs at info level to a file, as a production process logs to
 * stdout; the file is read back for problems.
 */
export async function startBenchGatehouse(options: {
  databaseUrl: string;
  policy: string;
  slack: FakeSlackProcess;
  env?: Record<string, string>;
}): Promise<BenchGatehouse> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-app-'));
  const policyFile = path.join(dir, 'gatehouse.yml');
  const logFile = path.join(dir, 'gatehouse.log');
  await fsp.writeFile(policyFile, options.policy);
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: options.databaseUrl,
    GATEHOUSE_POLICY: policyFile,
    PORT: '0',
    SLACK_BOT_TOKEN: BENCH_BOT_TOKEN,
    SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET,
    SLACK_API_URL: options.slack.apiUrl,
    GATEHOUSE_CHECKPOINT_KEY: generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString(),
    GATEHOUSE_ANCHOR_FILE: path.join(dir, 'anchors.jsonl'),
    ...options.env,
  });
  const logStream = fs.createWriteStream(logFile);
  let gatehouse: Gatehouse;
  try {
    gatehouse = await startGatehouse(config, createLogger({ level: 'info', destination: logStream }));
  } catch (err) {
    logStream.end();
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    gatehouse,
    eventsUrl: `http://127.0.0.1:${gatehouse.port}/slack/events`,
    async stop() {
      await gatehouse.stop();
      logStream.end();
      await once(logStream, 'finish');
      const problems: Record<string, number> = {};
      for (const line of (await fsp.readFile(logFile, 'utf8')).split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { level: number; msg?: string };
        if (entry.level >= 40) problems[entry.msg ?? '(no message)'] = (problems[entry.msg ?? '(no message)'] ?? 0) + 1;
      }
      await fsp.rm(dir, { recursive: true, force: true });
      return problems;
    },
  };
}
