import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from './process.ts';

/** Debian's Chromium, used when it is installed; GATEHOUSE_CHROMIUM names another. */
const DEBIAN_CHROMIUM = '/usr/bin/chromium';

const PACKAGED_CHROMIUM_DIR = path.join(PROJECT_ROOT, 'node_modules', '@sparticuz', 'chromium');

/** Noto Color Emoji from the npm registry, so the status glyphs show in screenshots on any machine. */
const EMOJI_WOFF = path.join(
  PROJECT_ROOT,
  'node_modules',
  '@fontsource',
  'noto-color-emoji',
  'files',
  'noto-color-emoji-emoji-400-normal.woff',
);

/** Where screenshots go: test-artifacts/ is ignored by git; docs/ keeps the one the README shows. */
export const SCREENSHOT_DIR = path.join(PROJECT_ROOT, 'test-artifacts', 'screenshots');

/**
 * Flags that keep Chromium off the network: on a closed network its background fetches
 * (updates, sync, QUIC probes) are refused, which slows or breaks start-up. The packaged
 * Chromium gets the same flags, not the package's own `args`: those are for one page in a
 * serverless function (`--single-process` and `--no-zygote` put every tab of the persistent
 * context in the browser's own process, an unsupported mode where one tab's crash ends them
 * all, and `--disable-web-security` would change what the page under test may do).
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** A new tab at `url`, once the sandbox page has drawn its first state; `viewport` for a screen other than a laptop's. */
  open(url: string, viewport?: { width: number; height: number }): Promise<Page>;
  screenshot(page: Page, name: string): Promise<string>;
  /** Closes the tabs opened so far; for afterEach. */
  closePages(): Promise<void>;
  close(): Promise<void>;
}

interface Executable {
  path: string;
  /** The Chromium major version the package ships, to catch another one left unpacked. */
  packagedMajor?: string;
  /** Fonts that come with the executable, for a machine with none of its own. */
  fontDirs: string[];
}

/**
 * A system Chromium when there is one (GATEHOUSE_CHROMIUM, else Debian's), otherwise the one
 * @sparticuz/chromium ships inside its npm package. No browser is ever downloaded.
 */
async function findChromium(): Promise<Executable> {
  const wanted = process.env.GATEHOUSE_CHROMIUM;
  if (wanted) {
    await fs.access(wanted).catch(() => {
      throw new Error(
        `GATEHOUSE_CHROMIUM is ${wanted}, which does not exist: name a Chromium executable, or unset it to use the one from @sparticuz/chromium.`,
      );
    });
    return { path: wanted, fontDirs: [] };
  }
  const debian = await fs.access(DEBIAN_CHROMIUM).then(
    () => true,
    () => false,
  );
  if (debian) return { path: DEBIAN_CHROMIUM, fontDirs: [] };
  // The first call unpacks Chromium (and Open Sans) into the temp directory, a few seconds.
  const executable = await packagedChromium.executablePath();
  const { version } = JSON.parse(await fs.readFile(path.join(PACKAGED_CHROMIUM_DIR, 'package.json'), 'utf8')) as {
    version: string;
  };
  return {
    path: executable,
    packagedMajor: version.split('.')[0],
    fontDirs: [path.join(path.dirname(executable), 'fonts')],
  };
}

/**
 * TrueType from WOFF 1.0: the same tables, each zlib-compressed. The emoji package ships only
 * WOFF and WOFF2, and Chromium draws boxes for a WOFF font that fontconfig lists (tried).
 */
function woffToTrueType(woff: Buffer): Buffer {
  const count = woff.readUInt16BE(12);
  const tables = Array.from({ length: count }, (_, i) => {
    const entry = 44 + i * 20;
    const offset = woff.readUInt32BE(entry + 4);
    const compressed = woff.readUInt32BE(entry + 8);
    const raw = woff.subarray(offset, offset + compressed);
    return {
      tag: woff.subarray(entry, entry + 4),
      checksum: woff.readUInt32BE(entry + 16),
      data: compressed < woff.readUInt32BE(entry + 12) ? inflateSync(raw) : raw,
    };
  });
  const header = Buffer.alloc(12 + 16 * count);
  const power = 2 ** Math.floor(Math.log2(count));
  header.writeUInt32BE(woff.readUInt32BE(4), 0); // the sfnt flavour
  header.writeUInt16BE(count, 4);
  header.writeUInt16BE(16 * power, 6);
  header.writeUInt16BE(Math.log2(power), 8);
  header.writeUInt16BE(16 * (count - power), 10);
  const parts = [header];
  let offset = header.length;
  tables.forEach((table, i) => {
    const record = 12 + 16 * i;
    table.tag.copy(header, record);
    header.writeUInt32BE(table.checksum, record + 4);
    header.writeUInt32BE(offset, record + 8);
    header.writeUInt32BE(table.data.length, record + 12);
    const padded = Buffer.alloc((table.data.length + 3) & ~3);
    table.data.copy(padded);
    parts.push(padded);
    offset += padded.length;
  });
  return Buffer.concat(parts);
}

/** A fontconfig file: the machine's fonts, the executable's, and the emoji font. */
async function writeFontConfig(dir: string, fontDirs: string[]): Promise<string> {
  const emojiDir = path.join(dir, 'emoji');
  await fs.mkdir(emojiDir);
  await fs.writeFile(path.join(emojiDir, 'NotoColorEmoji.ttf'), woffToTrueType(await fs.readFile(EMOJI_WOFF)));
  const file = path.join(dir, 'fonts.conf');
  const dirs = [...fontDirs, emojiDir].map((d) => `  <dir>${d}</dir>`);
  await fs.writeFile(
    file,
    [
      '<?xml version="1.0"?>',
      '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
      '<fontconfig>',
      '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
      ...dirs,
      `  <cachedir>${path.join(dir, 'fontconfig-cache')}</cachedir>`,
      '</fontconfig>',
      '',
    ].join('\n'),
  );
  return file;
}

/** Chromium with a fresh profile of its own, sized like a laptop screen. */
export async function launchBrowser(): Promise<Browser> {
  const executable = await findChromium();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: executable.path,
    args: ARGS,
    env: { ...process.env, FONTCONFIG_FILE: await writeFontConfig(dir, executable.fontDirs) },
    viewport: { width: 1280, height: 800 },
  });
  const running = context.browser()?.version() ?? '';
  if (executable.packagedMajor && running.split('.')[0] !== executable.packagedMajor) {
    await context.close();
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(
      `${executable.path} is Chromium ${running}, left unpacked by another version of @sparticuz/chromium; this one ships ${executable.packagedMajor}. Delete ${executable.path} and the tests unpack the right one.`,
    );
  }
  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    async open(url, viewport) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
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
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
