import type pg from 'pg';
import type { Anchor } from './anchors.ts';
import { judgeCheckpoints, unsignedResult, type AnchoredVerifyResult } from './checks.ts';
import type { CheckpointPublicKey } from './keys.ts';
import { listCheckpoints, readLogId } from './store.ts';
import { ChainChecker } from '../checker.ts';
import { readExportFile } from '../verify-file.ts';
import { verifyChain } from '../verify.ts';

export interface AnchoredVerifyOptions {
  /** The trusted checkpoint key. Without it only the chain is checked, and the result says so. */
  publicKey?: CheckpointPublicKey | null;
  /** Checkpoints read back from outside the database: the anchor file, the audit channel. */
  anchors?: Anchor[];
  onProgress?: (read: number) => void;
}

/**
 * verifyChain, then the checkpoints: every stored checkpoint's signature, their chain, and
 * that the log holds each one's (seq, hash); then the anchors, which catch what someone
 * who can write the database could hide by deleting checkpoints with the events.
 * Checkpoints are read before the events, so every one of them is in the chain's snapshot.
 */
export async function verifyAnchored(
  pool: pg.Pool,
  options: AnchoredVerifyOptions = {},
): Promise<AnchoredVerifyResult> {
  const anchors = options.anchors ?? [];
  const key = options.publicKey ?? null;
  if (!key) return unsignedResult(await verifyChain(pool, { onProgress: options.onProgress }), anchors);
  const logId = await readLogId(pool);
  const stored = await listCheckpoints(pool);
  const checker = new ChainChecker([...stored, ...anchors.map((a) => a.checkpoint)].map((cp) => cp.seq));
  const chain = await verifyChain(pool, { onProgress: options.onProgress, checker });
  return judgeCheckpoints({ chain, hashAt: (seq) => checker.hashAt(seq), key, logId, stored, anchors });
}

/**
 * readExportFile, then its checkpoints and the anchors against it, with no database: an
 * auditor's check from an export, the public key, and the anchor file or a checkpoint.
 * A format 2 export carries its checkpoints, so even with no key their chain and the
 * events they name are checked (not their signatures, and the result says so).
 */
export async function verifyFileAnchored(
  file: string,
  options: AnchoredVerifyOptions = {},
): Promise<AnchoredVerifyResult> {
  const key = options.publicKey ?? null;
  const anchors = options.anchors ?? [];
  const checker = new ChainChecker(key ? anchors.map((a) => a.checkpoint.seq) : []);
  const { chain, bundle } = await readExportFile(file, { onProgress: options.onProgress, checker });
  if (!key && !bundle) return unsignedResult(chain, anchors);
  const result = judgeCheckpoints({
    chain,
    hashAt: (seq) => checker.hashAt(seq),
    key,
    logId: null,
    stored: null,
    bundle,
    anchors: key ? anchors : [],
  });
  if (!key && anchors.length > 0)
    result.warnings.push(
      `${anchors.length} anchor(s) were given but not checked: anchors are checked only with the public key.`,
    );
  return result;
}
