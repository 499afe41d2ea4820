/** The demo sandbox driven in Chromium: what every test of the sandbox page starts with. */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { silentLogger } from '../../src/log.ts';
import { DEMO_POLICY_FILE, startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { launchBrowser, type Browser } from './browser.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

/** People and channels of the demo policy (src/sandbox/demo-policy.yml). */
export const DEMO = {
  ana: 'U0SBXANA', // contractor
  bram: 'U0SBXBRAM', // contractor
  dana: 'U0SBXDANA', // database owner
  fatima: 'U0SBXFATI', // auditor
  auditChannel: 'C0SBXAUDIT',
  approvalChannel: 'C0SBXDBTEAM',
} as const;

export interface SandboxWorld {
  readonly t: TestDatabase;
  readonly sandbox: Sandbox;
  readonly browser: Browser;
  /** The page as `userId`, showing `view` (a channel id, `dm` or `home`). */
  open(userId: string, view?: string, viewport?: { width: number; height: number }): Promise<Page>;
}

/**
 * One sandbox (the demo policy, a fresh database) and one browser for the test file, started
 * before its tests and stopped after; pages are closed after each test. `env` adds settings.
 */
export function sandboxWorld(env: Record<string, string> = {}): SandboxWorld {
  let t: TestDatabase | undefined;
  let sandbox: Sandbox | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: t.url,
      GATEHOUSE_POLICY: DEMO_POLICY_FILE,
      PORT: '0',
      GATEHOUSE_SANDBOX_PORT: '0',
      AUDIT_SEQUENCER_INTERVAL_MS: '20',
      ...env,
    });
    sandbox = await startSandbox(config, silentLogger());
    browser = await launchBrowser();
  });
  afterEach(async () => {
    await browser?.closePages();
  });
  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
    await t?.destroy();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the sandbox is not started yet (use it inside a test)');
    return value;
  };
  return {
    get t() {
      return started(t);
    },
    get sandbox() {
      return started(sandbox);
    },
    get browser() {
      return started(browser);
    },
    open(userId, view = 'dm', viewport) {
      return started(browser).open(`${started(sandbox).url}?as=${userId}&view=${view}`, viewport);
    },
  };
}

/** Types a slash command into the composer and sends it. */
export async function type(page: Page, line: string): Promise<void> {
  await page.locator('#line').fill(line);
  await page.locator('#line').press('Enter');
}

/** The newest message on the page that contains `text`, once it is there. */
export async function message(page: Page, text: string, options: { ephemeral?: boolean } = {}) {
  const found = page.locator(options.ephemeral ? '.message.ephemeral' : '.message', { hasText: text }).last();
  await found.waitFor();
  return found;
}
