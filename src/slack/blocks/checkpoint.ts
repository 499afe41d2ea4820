/** A signed checkpoint as posted to the audit channel; the checkpoint itself rides in the message metadata. */
import type { Checkpoint } from '../../audit/checkpoints/checkpoint.ts';
import { context, section, type Message } from './kit.ts';

export function checkpointMessage(checkpoint: Checkpoint): Message {
  const summary =
    `🔏 *Audit checkpoint* signed: the log up to seq ${checkpoint.seq} ends in hash \`${checkpoint.hash}\`` +
    ` (${checkpoint.time}, key \`${checkpoint.keyId}\`).`;
  const note =
    "The signed checkpoint is in this message's metadata. `/verify-audit` and `gatehouse audit verify` read it back " +
    'and fail if the database no longer reaches this seq or disagrees with this hash.';
  return { text: summary, blocks: [section(summary), context(note)] };
}
