import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { VerifyResult } from '../audit/checker.ts';

const number = new Intl.NumberFormat('en-US');
/** Problems listed in full; the rest are counted. */
const PROBLEMS_SHOWN = 10;

/** The verification report a person reads at a terminal: the chain, then the checkpoints and anchors (or why there were none). */
export function formatAnchoredReport(result: AnchoredVerifyResult, source: string): string {
  const lines = chainLines(result, source);
  if (result.signed) {
    const shown = result.problems.slice(0, PROBLEMS_SHOWN);
    for (const p of shown) {
      lines.push(`✘ ${source} is NOT whole: ${p.reason} at seq ${p.seq}, caught by ${p.source}.`, `  ${p.message}`);
    }
    if (result.problems.length > shown.length)
      lines.push(`  … and ${result.problems.length - shown.length} more problem(s); --json lists them all.`);
    if (!result.failure && !result.ok) {
      lines.push(
        `  The hash chain itself holds: ${plural(result.checked, 'event')} checked; head: seq ${result.headSeq}, hash ${result.headHash}.`,
      );
    }
    const cps = result.checkpoints;
    if (cps && cps.checked > 0) {
      const latest = cps.latestSeq === null ? '' : `; newest: seq ${cps.latestSeq}, ${cps.latestTime}`;
      lines.push(
        `${mark(result)} checkpoints: ${plural(cps.checked, 'checkpoint')} in the database checked with key ${result.keyId}${latest}.`,
      );
    }
    const anchors = result.anchors;
    if (anchors.checked > 0) {
      const latest = anchors.latestSeq === null ? '' : `; newest: seq ${anchors.latestSeq} (${anchors.latestSource})`;
      lines.push(`${mark(result)} anchors: ${plural(anchors.checked, 'anchor')} checked${latest}.`);
    }
    const covered = Math.max(cps?.latestSeq ?? 0, anchors.latestSeq ?? 0);
    if (result.ok && result.headSeq !== null && covered > 0 && covered < result.headSeq) {
      lines.push(`  events after seq ${covered} are not covered by a checkpoint yet.`);
    }
  }
  for (const warning of result.warnings) lines.push(`⚠ ${warning}`);
  return lines.join('\n');
}

function mark(result: AnchoredVerifyResult): string {
  return result.problems.length === 0 ? '✔' : '✘';
}

function chainLines(result: VerifyResult, source: string): string[] {
  const lines: string[] = [];
  if (result.failure) {
    const f = result.failure;
    lines.push(`✘ ${source} is NOT whole: ${f.reason} at seq ${f.seq}${f.line ? ` (line ${f.line})` : ''}.`);
    lines.push(`  ${f.message}`);
    lines.push(
      `  ${plural(result.checked, 'event')} before it verified${result.headSeq ? `; the last good one is seq ${result.headSeq}, hash ${result.headHash}` : ''}.`,
    );
  } else if (result.ok) {
    lines.push(`✔ ${source} is whole: ${plural(result.checked, 'event')} checked, every hash recomputed.`);
    lines.push(`  head: seq ${result.headSeq}, hash ${result.headHash}`);
  }
  return lines;
}

/** A one-line progress display on stderr, only when stderr is a terminal. */
export function progressReporter(label: string, total: number | null): ((read: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const started = Date.now();
  return (read) => {
    const rate = read / Math.max(0.001, (Date.now() - started) / 1000);
    const of = total ? ` / ${number.format(total)} (${Math.floor((read / total) * 100)}%)` : '';
    process.stderr.write(`\r${label}: ${number.format(read)}${of} events, ${number.format(Math.round(rate))}/s   `);
    if (total !== null && read >= total) process.stderr.write('\n');
  };
}

function plural(count: number, noun: string): string {
  return `${number.format(count)} ${noun}${count === 1 ? '' : 's'}`;
}
