import fs from 'node:fs/promises';
import path from 'node:path';
import { checkpointToJson, InvalidCheckpointError, parseCheckpoint, type Checkpoint } from './checkpoint.ts';

/**
 * A checkpoint read back from outside the database, and where from, so a report can name
 * the anchor that caught a problem: `anchors.jsonl line 12`, `--checkpoint`, a Slack message.
 */
export interface Anchor {
  source: string;
  checkpoint: Checkpoint;
}

/** An anchor source that cannot be read as checkpoints: the check cannot run. */
export class AnchorReadError extends Error {}

/**
 * Appends one checkpoint to the anchor file as a line of canonical JSON and fsyncs it, so
 * it is on disk before this returns. The line is written with a single append, which
 * keeps lines from concurrent writers whole. A new file's directory entry is synced too.
 */
export async function appendAnchor(file: string, checkpoint: Checkpoint): Promise<void> {
  const line = `${checkpointToJson(checkpoint)}\n`;
  const handle = await fs.open(file, 'a', 0o644);
  let created: boolean;
  try {
    created = (await handle.stat()).size === 0;
    await handle.appendFile(line, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (created) await syncDirectory(path.dirname(path.resolve(file)));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Every checkpoint in an anchor file, in file order. Blank lines are skipped; any other
 * line that is not a checkpoint fails the read, naming the line: an anchor that cannot be
 * read must not be silently dropped.
 */
export async function readAnchorFile(file: string): Promise<Anchor[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new AnchorReadError(
      `cannot read the anchor file ${file} (${code}). Give the file the bot appends checkpoints to (GATEHOUSE_ANCHOR_FILE).`,
    );
  }
  const anchors: Anchor[] = [];
  text.split('\n').forEach((line, i) => {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed.trim() === '') return;
    const source = `${file} line ${i + 1}`;
    anchors.push({ source, checkpoint: parseAnchor(trimmed, source) });
  });
  return anchors;
}

/**
 * The anchor file's checkpoints, or null when the file does not exist (yet: the first
 * checkpoint creates it). Any other trouble is an AnchorReadError, as with readAnchorFile.
 */
export async function readAnchorFileIfPresent(file: string): Promise<Anchor[] | null> {
  try {
    await fs.access(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
  }
  return readAnchorFile(file);
}

/** How much of the file's end is read for its last line: many times a checkpoint line. */
const TAIL_BYTES = 16 * 1024;

/**
 * The last checkpoint in an anchor file, reading only the file's end; null when the file
 * does not exist or holds none. For the signer, which must not sign over a log that no
 * longer extends what it last published.
 */
export async function readLastAnchor(file: string): Promise<Anchor | null> {
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AnchorReadError(
      `cannot read the anchor file ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}).`,
    );
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, TAIL_BYTES);
    const { buffer } = await handle.read({ buffer: Buffer.alloc(length), position: size - length });
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .map((line) => line.replace(/\r$/, ''));
    const last = lines.reverse().find((line) => line.trim() !== '');
    if (last === undefined) return null;
    const source = `${file} (last line)`;
    return { source, checkpoint: parseAnchor(last, source) };
  } finally {
    await handle.close();
  }
}

/** One checkpoint given as JSON text, or as the path of a file holding it. */
export async function readCheckpointArgument(jsonOrFile: string, source = '--checkpoint'): Promise<Anchor> {
  let text = jsonOrFile.trim();
  if (!text.startsWith('{')) {
    try {
      text = (await fs.readFile(text, 'utf8')).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new AnchorReadError(
        `${source} is neither checkpoint JSON nor a readable file (${code} for ${jsonOrFile}).`,
      );
    }
  }
  return { source, checkpoint: parseAnchor(text, source) };
}

function parseAnchor(text: string, source: string): Checkpoint {
  try {
    return parseCheckpoint(text);
  } catch (err) {
    if (err instanceof InvalidCheckpointError)
      throw new AnchorReadError(`${source} is not a checkpoint: ${err.message}.`);
    throw err;
  }
}
