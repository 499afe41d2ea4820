/** The answer to `/verify-audit`. */
import type { AnchoredVerifyResult } from '../../audit/checkpoints/checks.ts';
import { context, section, type Message } from './kit.ts';
import { GLYPH, escapeText, plural, truncate } from './text.ts';

/** Problems named one by one; the rest are counted. */
const PROBLEMS_SHOWN = 5;
/** Context lines at most, within Slack's 50 blocks and the ~12k characters a message may hold. */
const LINES_SHOWN = 16;

/**
 * The chain's verdict, then what the signed checkpoints and the anchors kept outside the
 * database showed, each problem with the checkpoint or anchor that caught it, then every
 * warning (no key, no anchors, an anchor source that could not be read).
 */
export function verifyResultMessage(result: AnchoredVerifyResult, notes: readonly string[] = []): Message {
  const { failure } = result;
  const lines: string[] = [];
  let summary: string;
  if (failure) {
    const where = failure.line !== undefined ? ` (line ${failure.line})` : '';
    const before = result.checked > 0 ? ` The ${plural(result.checked, 'event')} before it checked out.` : '';
    summary = `${GLYPH.failing} The audit log is broken at seq ${failure.seq}${where}: ${escapeText(failure.message)} (\`${failure.reason}\`).${before}`;
  } else if (result.problems.length > 0) {
    const first = result.problems[0]!;
    summary =
      `${GLYPH.failing} The audit log is NOT whole: \`${first.reason}\` at seq ${first.seq}, caught by ${escapeText(first.source)}. ` +
      `The hash chain itself holds (${plural(result.checked, 'event')}, head seq ${result.headSeq}), but the signed checkpoints show events were removed or rewritten.`;
  } else if (result.headSeq === null || result.headHash === null) {
    summary = `${GLYPH.approved} The audit log is empty: there is nothing to check yet.`;
  } else {
    summary =
      `${GLYPH.approved} The audit log is whole: ${plural(result.checked, 'event')} checked, ` +
      `head seq ${result.headSeq}, hash \`${escapeText(result.headHash)}\`.`;
  }
  for (const p of result.problems.slice(0, PROBLEMS_SHOWN))
    lines.push(`✘ \`${p.reason}\` at seq ${p.seq} (${escapeText(p.source)}): ${escapeText(p.message)}`);
  if (result.problems.length > PROBLEMS_SHOWN)
    lines.push(
      `…and ${plural(result.problems.length - PROBLEMS_SHOWN, 'more problem')}; \`gatehouse audit verify --json\` lists them all.`,
    );
  if (result.signed) {
    const mark = result.problems.length === 0 ? '✔' : '✘';
    const cps = result.checkpoints;
    if (cps && cps.checked > 0) {
      const newest = cps.latestSeq === null ? '' : `; newest: seq ${cps.latestSeq}, ${cps.latestTime}`;
      lines.push(
        `${mark} ${plural(cps.checked, 'signed checkpoint')} in the database checked with key \`${result.keyId}\`${newest}.`,
      );
    }
    if (result.anchors.checked > 0) {
      const newest =
        result.anchors.latestSeq === null
          ? ''
          : `; newest: seq ${result.anchors.latestSeq} (${escapeText(result.anchors.latestSource ?? '')})`;
      lines.push(`${mark} ${plural(result.anchors.checked, 'anchor')} kept outside the database checked${newest}.`);
    }
    const covered = Math.max(cps?.latestSeq ?? 0, result.anchors.latestSeq ?? 0);
    if (result.ok && result.headSeq !== null && covered > 0 && covered < result.headSeq) {
      lines.push(`Events after seq ${covered} are not covered by a checkpoint yet.`);
    }
  }
  // Warnings and notes (a source NOT checked) are never cut: problems beyond the first five already are.
  const warnings = [...result.warnings, ...notes].map((warning) => `⚠ ${escapeText(warning)}`);
  const shown = [...lines.slice(0, Math.max(0, LINES_SHOWN - warnings.length)), ...warnings];
  return { text: truncate(summary), blocks: [section(summary), ...shown.map((line) => context(line))] };
}
