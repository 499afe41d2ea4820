import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from './process.ts';

/** Debian's Chromium; .ci/run installs it with apt-get. No browser is ever downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go: test-artifacts/ is ignored by git; docs/ keeps the one the README shows. */
export const SCREENSHOT_DIR = path.join(PROJECT_ROOT, 'test-artifacts', 'screenshots');

/**
 * Flags that keep Chromium off the network: on a closed network its background fetches
 * (updates, sync, QUIC probes) are refused, which slows or breaks start-up.
 */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  /** A new tab at `url`, once the sandbox page has drawn its first state. */
  open(url: string): Promise<Page>;
  screenshot(page: Page, name: string): Promise<string>;
  /** Closes the tabs opened so far; for afterEach. */
  closePages(): Promise<void>;
  close(): Promise<void>;
}

/** Chromium with a fresh profile of its own, sized like a laptop screen. */
export async function launchBrowser(): Promise<Browser> {
  await fs.access(CHROMIUM).catch(() => {
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium), as .ci/run does. The browser tests never download one.`);
  });
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
  });
  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    async open(url) {
      const page = await context.newPage();
      await page.goto(url);
      await page.locator('body[data-ready="true"]').waitFor();
      return page;
    },
    async screenshot(page, name) {
      const file = path.join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    async closePages() {
      await Promise.all(context.pages().map((page) => page.close()));
    },
    async close() {
      await context.close();
      await fs.rm(profile, { recursive: true, force: true });
    },
  };
}
