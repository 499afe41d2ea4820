/** The answer to `/verify-audit`. */
import type { AnchoredVerifyResult } from '../../audit/checkpoints/checks.ts';
import { context, section, type Message } from './kit.ts';
import { GLYPH, escapeText, formatWhen, plural, truncate } from './text.ts';

const CHANNEL_MESSAGE = /audit channel (C[A-Z0-9]+) message (\d+)\.(\d+)/g;
const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g;

/** A message in a channel as its archive link, e.g. `https://slack.com/archives/C1/p1700000000000100`. */
export const archiveUrl = (channel: string, ts: string): string =>
  `https://slack.com/archives/${channel}/p${ts.replace('.', '')}`;

/**
 * Escaped text as people read it: an anchor's "audit channel C1 message 1700000000.000100"
 * becomes a link to the message, its time and the channel's name; a UTC time becomes the
 * reader's own.
 */
export function readable(text: string): string {
  return escapeText(text)
    .replace(ISO_TIME, (iso) => formatWhen(new Date(iso)))
    .replace(
      CHANNEL_MESSAGE,
      (_, channel: string, secs: string, micros: string) =>
        `<${archiveUrl(channel, `${secs}.${micros}`)}|the checkpoint posted ${formatWhen(new Date(Number(secs) * 1000))}> in <#${channel}>`,
    );
}

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
  let shownSummary: string;
  if (failure) {
    const where = failure.line !== undefined ? ` (line ${failure.line})` : '';
    const before = result.checked > 0 ? ` The ${plural(result.checked, 'event')} before it checked out.` : '';
    const told = (message: string) =>
      `${GLYPH.failing} The audit log is broken at seq ${failure.seq}${where}: ${message} (\`${failure.reason}\`).${before}`;
    summary = told(escapeText(failure.message));
    shownSummary = told(readable(failure.message));
  } else if (result.problems.length > 0) {
    const first = result.problems[0]!;
    const shows =
      first.reason === 'bad-note'
        ? "the Merkle tree's signed roots do not hold: the tree or a note was changed, and inclusion proofs from it would not verify"
        : 'the signed checkpoints show events were removed or rewritten';
    const told = (source: string) =>
      `${GLYPH.failing} The audit log is NOT whole: \`${first.reason}\` at seq ${first.seq}, caught by ${source}. ` +
      `The hash chain itself holds (${plural(result.checked, 'event')}, head seq ${result.headSeq}), but ${shows}.`;
    summary = told(escapeText(first.source));
    shownSummary = told(readable(first.source));
  } else if (result.headSeq === null || result.headHash === null) {
    summary = `${GLYPH.approved} The audit log is empty: there is nothing to check yet.`;
    shownSummary = summary;
  } else {
    summary =
      `${GLYPH.approved} The audit log is whole: ${plural(result.checked, 'event')} checked, ` +
      `head seq ${result.headSeq}, hash \`${escapeText(result.headHash)}\`.`;
    shownSummary = summary;
  }
  for (const p of result.problems.slice(0, PROBLEMS_SHOWN))
    lines.push(`✘ \`${p.reason}\` at seq ${p.seq} (${readable(p.source)}): ${readable(p.message)}`);
  if (result.problems.length > PROBLEMS_SHOWN)
    lines.push(
      `…and ${plural(result.problems.length - PROBLEMS_SHOWN, 'more problem')}; \`gatehouse audit verify --json\` lists them all.`,
    );
  if (result.signed) {
    const mark = result.problems.length === 0 ? '✔' : '✘';
    const cps = result.checkpoints;
    if (cps && cps.checked > 0) {
      const newest =
        cps.latestSeq === null ? '' : `; newest: seq ${cps.latestSeq}, signed ${readable(cps.latestTime ?? '')}`;
      lines.push(
        `${mark} ${plural(cps.checked, 'signed checkpoint')} in the database checked with key \`${result.keyId}\`${newest}.`,
      );
    }
    if (result.treeNotes && result.treeNotes.checked > 0) {
      const bad = result.problems.some((p) => p.reason === 'bad-note');
      const older =
        result.treeNotes.withoutNote > 0
          ? ` (${plural(result.treeNotes.withoutNote, 'older checkpoint')} carry none)`
          : '';
      lines.push(
        `${bad ? '✘' : '✔'} ${plural(result.treeNotes.checked, "checkpoint's signed note", "checkpoints' signed notes")} checked against the Merkle tree${older}.`,
      );
    }
    if (result.anchors.checked > 0) {
      const newest =
        result.anchors.latestSeq === null
          ? ''
          : `; newest: seq ${result.anchors.latestSeq} (${readable(result.anchors.latestSource ?? '')})`;
      lines.push(`${mark} ${plural(result.anchors.checked, 'anchor')} kept outside the database checked${newest}.`);
    }
    const covered = Math.max(cps?.latestSeq ?? 0, result.anchors.latestSeq ?? 0);
    if (result.ok && result.headSeq !== null && covered > 0 && covered < result.headSeq) {
      lines.push(`Events after seq ${covered} are not covered by a checkpoint yet.`);
    }
  }
  // Warnings and notes (a source NOT checked) are never cut: problems beyond the first five already are.
  const warnings = [...result.warnings, ...notes].map((warning) => `⚠ ${readable(warning)}`);
  const shown = [...lines.slice(0, Math.max(0, LINES_SHOWN - warnings.length)), ...warnings];
  // The notification text keeps the plain words; the blocks link the message and show local times.
  return { text: truncate(summary), blocks: [section(shownSummary), ...shown.map((line) => context(line))] };
}
