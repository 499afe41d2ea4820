/** The answer to `/verify-audit`. */
import type { VerifyResult } from '../../audit/checker.ts';
import { context, section, type Message } from './kit.ts';
import { GLYPH, escapeText, plural, truncate } from './text.ts';

/** Said with every result, because a whole chain is easy to over-read. */
const TAIL_NOTE =
  'A hash chain proves that no event up to the head was changed, removed or inserted; it cannot show that events after the head were cut off. ' +
  'Compare the head seq and hash with an earlier result or an exported checkpoint to rule that out.';

export function verifyResultMessage(result: VerifyResult): Message {
  const { failure } = result;
  let summary: string;
  if (failure) {
    const where = failure.line !== undefined ? ` (line ${failure.line})` : '';
    const before = result.checked > 0 ? ` The ${plural(result.checked, 'event')} before it checked out.` : '';
    summary = `${GLYPH.failing} The audit log is broken at seq ${failure.seq}${where}: ${escapeText(failure.message)} (\`${failure.reason}\`).${before}`;
  } else if (result.headSeq === null || result.headHash === null) {
    summary = `${GLYPH.approved} The audit log is empty: there is nothing to check yet.`;
  } else {
    summary =
      `${GLYPH.approved} The audit log is whole: ${plural(result.checked, 'event')} checked, ` +
      `head seq ${result.headSeq}, hash \`${escapeText(result.headHash)}\`.`;
  }
  return { text: truncate(summary), blocks: [section(summary), context(TAIL_NOTE)] };
}
