import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { readAnchorFile, readCheckpointArgument, type Anchor } from '../audit/anchors.ts';
import { loadCheckpointKey, loadPublicKey, type CheckpointPublicKey } from '../audit/checkpoint-keys.ts';
import { ConfigError, type Config } from '../config/env.ts';

/** The options `audit verify` and `audit verify-file` share. */
export interface AnchoringOptions {
  publicKey?: string;
  anchors?: string;
  checkpoint?: string;
}

export interface Anchoring {
  publicKey: CheckpointPublicKey | null;
  anchors: Anchor[];
  /** Where things came from, or why they are missing, for the report. */
  notes: string[];
}

/**
 * The trusted key and the anchors for a verification: flags first, then the settings.
 * With no public key set, the signing key's public half is used when the signing key is
 * configured (on the bot's host); auditors pin theirs with --public-key.
 */
export async function resolveAnchoring(options: AnchoringOptions, cfg: Config): Promise<Anchoring> {
  const notes: string[] = [];
  let publicKey: CheckpointPublicKey | null = null;
  if (options.publicKey) {
    publicKey = await loadPublicKey(options.publicKey, '--public-key');
  } else if (cfg.checkpoint.publicKey) {
    publicKey = await loadPublicKey(cfg.checkpoint.publicKey, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY');
  } else {
    const signing = await loadCheckpointKey(cfg.checkpoint);
    if (signing) {
      publicKey = signing.publicKey;
      notes.push(`The public key was taken from the signing key (key id ${publicKey.keyId}); auditors should pin theirs with --public-key.`);
    }
  }

  if (!publicKey && (options.anchors || options.checkpoint)) {
    throw new ConfigError('--anchors and --checkpoint are checked with the checkpoint public key: pass --public-key KEY_OR_FILE, or set GATEHOUSE_CHECKPOINT_PUBLIC_KEY.');
  }
  const anchors: Anchor[] = [];
  if (options.anchors) {
    anchors.push(...(await readAnchorFile(options.anchors)));
  } else if (cfg.checkpoint.anchorFile && publicKey) {
    if (await readable(cfg.checkpoint.anchorFile)) anchors.push(...(await readAnchorFile(cfg.checkpoint.anchorFile)));
    else notes.push(`GATEHOUSE_ANCHOR_FILE names ${cfg.checkpoint.anchorFile}, which does not exist (yet): no anchors were read from it.`);
  }
  if (options.checkpoint) anchors.push(await readCheckpointArgument(options.checkpoint));
  return { publicKey, anchors, notes };
}

async function readable(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
