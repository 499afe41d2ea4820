import path from 'node:path';
import { LogLevel, WebClient } from '@slack/web-api';
import {
  readAnchorFile,
  readAnchorFileIfPresent,
  readCheckpointArgument,
  type Anchor,
} from '../audit/checkpoints/anchors.ts';
import { loadCheckpointKey, loadPublicKey, type CheckpointPublicKey } from '../audit/checkpoints/keys.ts';
import { ConfigError, type Config } from '../config/env.ts';
import { loadPolicyFile } from '../provisioners/index.ts';
import { channelAnchorsForReport } from '../slack/outbound/channel-anchors.ts';
import { describeSlackError } from '../slack/slack-errors.ts';

/** The options `audit verify` and `audit verify-file` share. */
export interface AnchoringOptions {
  publicKey?: string;
  anchors?: string;
  checkpoint?: string;
  /** False (`--no-slack`): do not read the checkpoints posted to the audit channel. */
  slack?: boolean;
}

export interface Anchoring {
  publicKey: CheckpointPublicKey | null;
  anchors: Anchor[];
  /** Where things came from, or why they are missing, for the report. */
  notes: string[];
}

/** A local key trusted in place of a public key given: the caveat, in one sentence. */
const LOCAL_KEY_CAVEAT =
  'A key read on the machine that holds the log proves less than a public key kept elsewhere, since whoever can rewrite the log here may have read the key too: auditors pin their own copy with --public-key.';

/**
 * The trusted key and the anchors for a verification: flags first, then the settings.
 * With no public key set, the public half of a local signing key is trusted, and the report
 * says which: the one configured (on the bot's host), else `localKeyFile` (the sandbox's).
 */
export async function resolveAnchoring(
  options: AnchoringOptions,
  cfg: Config,
  localKeyFile: string | null = null,
): Promise<Anchoring> {
  const notes: string[] = [];
  let publicKey: CheckpointPublicKey | null = null;
  if (options.publicKey) {
    publicKey = await loadPublicKey(options.publicKey, '--public-key');
  } else if (cfg.checkpoint.publicKey) {
    publicKey = await loadPublicKey(cfg.checkpoint.publicKey, 'GATEHOUSE_CHECKPOINT_PUBLIC_KEY');
  } else {
    const configured = await loadCheckpointKey(cfg.checkpoint);
    const signing = configured ?? (localKeyFile ? await loadCheckpointKey({ privateKeyFile: localKeyFile }) : null);
    if (signing) {
      publicKey = signing.publicKey;
      const from = cfg.checkpoint.privateKey
        ? 'GATEHOUSE_CHECKPOINT_KEY'
        : configured
          ? `GATEHOUSE_CHECKPOINT_KEY_FILE (${path.resolve(cfg.checkpoint.privateKeyFile ?? '')})`
          : `${localKeyFile}, the key the sandbox made beside its data`;
      notes.push(
        `No public key was given, so the checkpoints were checked with the signing key read from ${from}: key id ${publicKey.keyId}. ${LOCAL_KEY_CAVEAT}`,
      );
    }
  }

  if (!publicKey && (options.anchors || options.checkpoint)) {
    throw new ConfigError(
      '--anchors and --checkpoint are checked with the checkpoint public key: pass --public-key KEY_OR_FILE, or set GATEHOUSE_CHECKPOINT_PUBLIC_KEY.',
    );
  }
  const anchors: Anchor[] = [];
  if (options.anchors) {
    anchors.push(...(await readAnchorFile(options.anchors)));
  } else if (cfg.checkpoint.anchorFile && publicKey) {
    const found = await readAnchorFileIfPresent(cfg.checkpoint.anchorFile);
    if (found) anchors.push(...found);
    else
      notes.push(
        `GATEHOUSE_ANCHOR_FILE names ${cfg.checkpoint.anchorFile}, which does not exist (yet): no anchors were read from it.`,
      );
  }
  if (options.checkpoint) anchors.push(await readCheckpointArgument(options.checkpoint));
  if (publicKey && options.slack !== false) {
    if (cfg.slack.botToken) anchors.push(...(await channelAnchors(cfg, cfg.slack.botToken, notes)));
    else notes.push('SLACK_BOT_TOKEN is not set, so the checkpoints posted to the audit channel were not read back.');
  }
  return { publicKey, anchors, notes };
}

/**
 * The checkpoints the bot posted to the policy's audit channel, read back with its token.
 * A channel that cannot be read is said in the notes, not dropped silently; the rest of
 * the verification still runs.
 */
async function channelAnchors(cfg: Config, token: string, notes: string[]): Promise<Anchor[]> {
  let channel: string;
  try {
    channel = (await loadPolicyFile(cfg.policyFile)).policy.auditChannel;
  } catch (err) {
    notes.push(
      `The policy file could not be read to find the audit channel (${(err as Error).message.split('\n')[0]}): the checkpoints posted there were NOT checked.`,
    );
    return [];
  }
  const client = new WebClient(token, {
    logLevel: LogLevel.ERROR,
    retryConfig: { retries: 2, maxTimeout: 2000 },
    ...(cfg.slack.apiUrl ? { slackApiUrl: cfg.slack.apiUrl } : {}),
  });
  const leaveOut = 'Pass --no-slack to leave them out on purpose.';
  let botId: string | undefined;
  try {
    botId = (await client.auth.test()).bot_id;
  } catch (err) {
    notes.push(
      `The audit channel's checkpoints were NOT checked: could not reach Slack with SLACK_BOT_TOKEN (${describeSlackError(err)}). ${leaveOut}`,
    );
    return [];
  }
  if (!botId) {
    notes.push(
      `The audit channel's checkpoints were NOT checked: SLACK_BOT_TOKEN is not a bot token (auth.test names no bot), so the bot's posts cannot be told from anyone else's. ${leaveOut}`,
    );
    return [];
  }
  const { anchors, problem } = await channelAnchorsForReport(client, channel, botId);
  notes.push(
    problem
      ? `${problem} ${leaveOut}`
      : `${anchors.length === 1 ? '1 checkpoint was' : `${anchors.length} checkpoints were`} read back from the audit channel ${channel}.`,
  );
  return anchors;
}
