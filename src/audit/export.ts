import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { listCheckpoints, readLogId } from './checkpoints/store.ts';
import { CopyBinaryReader } from './copy-binary.ts';
import { exportedCheckpointLine, exportHeaderLine } from './verify-file.ts';

/**
 * Writes the log as a self-contained export (format 3, or 2 when no checkpoint has a note;
 * docs/audit-log.md section 6.1), every line RFC 8785 canonical JSON ending in LF:
 *   {"format":"gatehouse audit export","key_id":<the newest checkpoint's, or null>,"log_id":"<id>","v":3}
 *   one line per stored checkpoint, oldest first, in the anchor file's form plus, in format 3,
 *     its signed note of the Merkle tree (`note`) when it has one
 *   {"event":<canonical event>,"hash":"<hex>","prev_hash":"<hex>"}, one per event, in seq order
 * `event` is the exact text that was hashed, so the file alone verifies the chain, and with
 * the checkpoints it shows truncation and rewrites up to the newest of them; with their
 * notes, that the tree roots they sign (which proofs and receipts rest on) are the events'.
 * Everything comes from one snapshot (a repeatable-read transaction), so every checkpoint
 * written covers events that are in the file. The file appears only when complete: it is
 * written beside the target and renamed.
 */
export async function exportChain(pool: pg.Pool, file: string): Promise<{ events: number; checkpoints: number }> {
  const target = path.resolve(file);
  const partial = `${target}.partial-${process.pid}`;
  const out = fs.createWriteStream(partial, { mode: 0o644 });
  const client = await pool.connect();
  let events = 0;
  let checkpoints = 0;
  try {
    await client.query('begin isolation level repeatable read read only');
    const logId = await readLogId(client);
    const stored = await listCheckpoints(client);
    checkpoints = stored.length;
    const withNotes = stored.some((cp) => cp.note !== null);
    const head = [
      exportHeaderLine(logId, stored.at(-1)?.keyId ?? null, withNotes),
      ...stored.map((cp) => exportedCheckpointLine(cp, cp.note)),
    ];
    out.write(`${head.join('\n')}\n`);
    let lines: string[] = [];
    const reader = new CopyBinaryReader((buf, starts, lengths) => {
      const [canonical, prevHash, hash] = [0, 1, 2].map((i) =>
        buf.toString(i === 0 ? 'utf8' : 'hex', starts[i]!, starts[i]! + lengths[i]!),
      );
      if (lengths[0]! < 0 || lengths[1] !== 32 || lengths[2] !== 32)
        throw new Error('audit_events has a row with a null or malformed column');
      lines.push(`{"event":${canonical},"hash":"${hash}","prev_hash":"${prevHash}"}\n`);
      events += 1;
    });
    const stream = client.query(
      copyTo('copy (select canonical, prev_hash, hash from audit_events order by seq) to stdout (format binary)'),
    );
    for await (const chunk of stream) {
      reader.push(chunk as Buffer);
      if (lines.length > 0 && !out.write(lines.join(''))) await once(out, 'drain');
      lines = [];
    }
    if (!reader.complete) throw new Error('the COPY stream from PostgreSQL ended early');
    await client.query('commit');
    out.end();
    await once(out, 'finish');
    await fs.promises.rename(partial, target);
  } catch (err) {
    out.destroy();
    await client.query('rollback').catch(() => undefined);
    await fs.promises.rm(partial, { force: true });
    throw err;
  } finally {
    client.release();
  }
  return { events, checkpoints };
}
