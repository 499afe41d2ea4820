import type { SinceVerifyResult } from './verify-since.ts';

const number = new Intl.NumberFormat('en-US');
const PROBLEMS_SHOWN = 10;

function plural(count: number, noun: string): string {
  return `${number.format(count)} ${noun}${count === 1 ? '' : 's'}`;
}

/** The report of `gatehouse audit verify --since` a person reads: what was verified, and what was trusted instead. */
export function formatSinceReport(result: SinceVerifyResult, source: string): string {
  const { since } = result;
  const from = since.checkpointId === null ? since.source : `checkpoint #${since.checkpointId}`;
  const first = since.seq + 1;
  const lines: string[] = [];
  if (result.failure) {
    const f = result.failure;
    lines.push(
      `✘ ${source} is NOT whole since ${from} (seq ${since.seq}): ${f.reason} at seq ${f.seq}.`,
      `  ${f.message}`,
    );
  } else {
    const range =
      result.headSeq === null || result.headSeq <= since.seq
        ? `no events after seq ${since.seq}`
        : `events ${number.format(first)} … ${number.format(result.headSeq)} (${plural(since.newEvents, 'event')})`;
    lines.push(
      `${result.ok ? '✔' : '✘'} verified ${range} since ${from} of ${since.time}; everything before it is trusted from that checkpoint, not re-checked.`,
    );
  }
  for (const p of result.problems.slice(0, PROBLEMS_SHOWN)) {
    lines.push(`✘ ${source} is NOT whole: ${p.reason} at seq ${p.seq}, caught by ${p.source}.`, `  ${p.message}`);
  }
  if (result.problems.length > PROBLEMS_SHOWN)
    lines.push(`  … and ${result.problems.length - PROBLEMS_SHOWN} more problem(s); --json lists them all.`);
  if (result.ok) {
    lines.push(
      `  the event at seq ${since.seq} still hashes to the checkpoint's ${since.hash.slice(0, 16)}…; head: seq ${result.headSeq}, hash ${result.headHash}`,
    );
  }
  const cps = result.checkpoints;
  if (cps && cps.checked > 0) {
    const latest = cps.latestSeq === null ? '' : `; newest: seq ${cps.latestSeq}, ${cps.latestTime}`;
    lines.push(
      `${result.problems.length === 0 ? '✔' : '✘'} checkpoints after it: ${plural(cps.checked, 'checkpoint')} checked with key ${result.keyId}, each following the one before it back to ${from}${latest}.`,
    );
  }
  if (result.anchors.checked > 0) {
    const before =
      since.anchorsBefore > 0
        ? ` (${since.anchorsBefore} before seq ${since.seq}: trusted with the checkpoint, not checked)`
        : '';
    lines.push(
      `${result.problems.length === 0 ? '✔' : '✘'} anchors: ${plural(result.anchors.checked, 'anchor')} read${before}.`,
    );
  }
  const c = since.consistency;
  if (c.status === 'checked') {
    lines.push(
      `✔ Merkle tree: the one checkpoint #${c.checkpointId} signs (${plural(c.size2, 'event')}) extends the one ${from} signs (${plural(c.size1, 'event')}): consistency proof checked against both signed roots.`,
    );
  } else if (c.status === 'no-tree') {
    lines.push(`  Merkle tree: ${c.reason}.`);
  }
  for (const warning of result.warnings) lines.push(`⚠ ${warning}`);
  return lines.join('\n');
}
