import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { CopyBinaryReader } from './copy-binary.ts';

/**
 * Writes the log as JSON Lines, one event a line, in seq order:
 *   {"event":<canonical event>,"hash":"<hex>","prev_hash":"<hex>"}
 * Each line is itself RFC 8785 canonical JSON, and `event` is the exact text that was
 * hashed, so the file alone is enough to verify the chain (docs/audit-log.md).
 * The file appears only when complete: it is written beside the target and renamed.
 */
export async function exportChain(pool: pg.Pool, file: string): Promise<{ events: number }> {
  const target = path.resolve(file);
  const partial = `${target}.partial-${process.pid}`;
  const out = fs.createWriteStream(partial, { mode: 0o644 });
  const client = await pool.connect();
  let events = 0;
  try {
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
    out.end();
    await once(out, 'finish');
    await fs.promises.rename(partial, target);
  } catch (err) {
    out.destroy();
    await fs.promises.rm(partial, { force: true });
    throw err;
  } finally {
    client.release();
  }
  return { events };
}
