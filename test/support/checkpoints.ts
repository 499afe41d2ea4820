import { randomBytes } from 'node:crypto';
import { appendAnchor } from '../../src/audit/checkpoints/anchors.ts';
import { chainHash } from '../../src/audit/chain.ts';
import { checkpointKeyFromSeed, type CheckpointKey } from '../../src/audit/checkpoints/keys.ts';
import { makeCheckpoint, type StoredCheckpoint } from '../../src/audit/checkpoints/store.ts';
import { encodeEvent, type AuditEvent } from '../../src/audit/event.ts';
import { seedEvents, withTriggersOff } from './audit.ts';
import type { TestDatabase } from './db.ts';

export function randomKey(): CheckpointKey {
  return checkpointKeyFromSeed(randomBytes(32));
}

/** Records `count` more events, then signs a checkpoint and appends it to the anchor file, as the bot would. */
export async function eventsThenCheckpoint(
  t: TestDatabase,
  count: number,
  key: CheckpointKey,
  anchorFile: string,
): Promise<StoredCheckpoint> {
  await seedEvents(t, count);
  const checkpoint = await makeCheckpoint(t.db, key);
  if (!checkpoint) throw new Error('no checkpoint was made');
  await appendAnchor(anchorFile, checkpoint);
  return checkpoint;
}

/** Runs SQL on audit_checkpoints with its append-only triggers off, as the table's owner could. */
export async function tamperCheckpoints(t: TestDatabase, ...statements: string[]): Promise<void> {
  await withTriggersOff(t, 'audit_checkpoints', async () => {
    for (const statement of statements) await t.query(statement);
  });
}

/**
 * The full rewrite an owner could do: change the event at `seq` with `edit`, then recompute
 * the hash of it and of every later event, so the chain on its own is whole again.
 */
export async function rewriteFrom(
  t: TestDatabase,
  seq: number,
  edit: (event: AuditEvent) => AuditEvent,
): Promise<void> {
  const { rows } = await t.query<{ seq: number; canonical: string; prev_hash: Buffer }>(
    'select seq, canonical, prev_hash from audit_events where seq >= $1 order by seq',
    [seq],
  );
  let prevHash = rows[0]!.prev_hash;
  await withTriggersOff(t, 'audit_events', async () => {
    for (const row of rows) {
      const event = JSON.parse(row.canonical) as AuditEvent;
      const canonical = encodeEvent(row.seq === seq ? edit(event) : event);
      const hash = chainHash(prevHash, canonical);
      await t.query('update audit_events set canonical = $2, prev_hash = $3, hash = $4 where seq = $1', [
        row.seq,
        canonical,
        prevHash,
        hash,
      ]);
      prevHash = hash;
    }
  });
}
