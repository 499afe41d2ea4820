import type { VerifyResult } from '../audit/checker.ts';

const number = new Intl.NumberFormat('en-US');

/** The verification report a person reads at a terminal. */
export function formatVerifyReport(result: VerifyResult, source: string): string {
  const lines: string[] = [];
  if (result.ok) {
    lines.push(`✔ ${source} is whole: ${plural(result.checked, 'event')} checked, every hash recomputed.`);
    lines.push(`  head: seq ${result.headSeq}, hash ${result.headHash}`);
    lines.push(
      '  note: a hash chain alone cannot show that the newest events were deleted or the whole log rewritten;',
      '        compare the head with one recorded earlier outside the database.',
    );
  } else if (result.failure) {
    const f = result.failure;
    lines.push(`✘ ${source} is NOT whole: ${f.reason} at seq ${f.seq}${f.line ? ` (line ${f.line})` : ''}.`);
    lines.push(`  ${f.message}`);
    lines.push(`  ${plural(result.checked, 'event')} before it verified${result.headSeq ? `; the last good one is seq ${result.headSeq}, hash ${result.headHash}` : ''}.`);
  }
  return lines.join('\n');
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
