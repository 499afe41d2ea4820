import type { WebClient } from '@slack/web-api';
import { AnchorReadError, readAnchorFileIfPresent, type Anchor } from '../../audit/checkpoints/anchors.ts';
import type { AnchoredVerifyResult } from '../../audit/checkpoints/checks.ts';
import type { CheckpointPublicKey } from '../../audit/checkpoints/keys.ts';
import { channelAnchorsForReport } from '../outbound/channel-anchors.ts';

/** What `/verify-audit` checks checkpoints with, fixed at start-up. */
export interface VerificationSettings {
  /** The trusted key: GATEHOUSE_CHECKPOINT_PUBLIC_KEY, else the signing key's public half; null: neither is set. */
  publicKey: CheckpointPublicKey | null;
  /** GATEHOUSE_ANCHOR_FILE, if set. */
  anchorFile: string | null;
}

export interface AnchorSources {
  anchors: Anchor[];
  /** Sources that could not be read, and why: said with the result, never dropped silently. */
  notes: string[];
}

/**
 * The anchors kept outside the database that the running bot can reach: the anchor file
 * and the checkpoints posted to the audit channel. A source that cannot be read is named in
 * the notes; the verification still runs on the rest.
 */
export async function gatherAnchors(
  settings: VerificationSettings,
  client: WebClient,
  channel: string,
  botId: string | undefined,
): Promise<AnchorSources> {
  const anchors: Anchor[] = [];
  const notes: string[] = [];
  if (!settings.publicKey) return { anchors, notes };
  if (settings.anchorFile) {
    try {
      const found = await readAnchorFileIfPresent(settings.anchorFile);
      if (found) anchors.push(...found);
      else notes.push(`The anchor file ${settings.anchorFile} does not exist yet: no anchors were read from it.`);
    } catch (err) {
      if (!(err instanceof AnchorReadError)) throw err;
      notes.push(`${err.message} Its anchors were NOT checked.`);
    }
  }
  if (!botId) {
    notes.push('Slack did not say which bot this is, so the checkpoints posted to the audit channel were NOT read.');
    return { anchors, notes };
  }
  const posted = await channelAnchorsForReport(client, channel, botId);
  anchors.push(...posted.anchors);
  if (posted.problem) notes.push(posted.problem);
  return { anchors, notes };
}

/** The fields of a verification worth keeping in the audit log's own record of it. */
export function verificationRecord(result: AnchoredVerifyResult): Record<string, unknown> {
  return {
    ok: result.ok,
    checked: result.checked,
    head_seq: result.headSeq,
    head_hash: result.headHash,
    signed: result.signed,
    ...(result.checkpoints ? { checkpoints: result.checkpoints.checked } : {}),
    anchors: result.anchors.checked,
    ...(result.treeNotes ? { tree_notes: result.treeNotes.checked } : {}),
    ...(result.failure ? { failure: { seq: result.failure.seq, reason: result.failure.reason } } : {}),
    ...(result.problems.length > 0
      ? { problems: result.problems.slice(0, 10).map((p) => ({ reason: p.reason, seq: p.seq, source: p.source })) }
      : {}),
  };
}
