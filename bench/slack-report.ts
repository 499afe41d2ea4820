/** The Slack benchmarks' results as Markdown, in the shape docs/benchmarks.md quotes. */
import { WARMUP_SECONDS, type AckResults, type AckRun } from './ack.ts';
import type { ExpiryResults } from './expiry.ts';
import { counts, fmt, median, ms } from './format.ts';
import type { Summary } from './percentiles.ts';

const errorsOf = (run: AckRun) => Object.entries(run.outcomes).filter(([outcome]) => outcome !== '200').reduce((n, [, count]) => n + count, 0);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function ackRow(label: string, runs: AckRun[]): string {
  const of = (pick: (s: Summary) => number) => ms(median(runs.map((r) => pick(r.summary))));
  return `| ${label} | ${of((s) => s.p50)} | ${of((s) => s.p99)} | ${of((s) => s.max)} | ${fmt(sum(runs.map((r) => r.summary.count)))} | ${fmt(sum(runs.map(errorsOf)))} | ${fmt(sum(runs.map((r) => r.over3s)))} |`;
}

/** Non-200 outcomes of all rounds, added up. */
function failures(runs: AckRun[]): string {
  const total: Record<string, number> = {};
  for (const run of runs) for (const [outcome, n] of Object.entries(run.outcomes)) if (outcome !== '200') total[outcome] = (total[outcome] ?? 0) + n;
  return counts(total);
}

const percent = (n: number | null) => (n === null ? 'n/a' : `${fmt(n)} %`);

export function printAck(results: AckResults, rate: number, seconds: number): void {
  const { rounds } = results;
  const bare = rounds.map((r) => r.bare);
  const gatehouse = rounds.map((r) => r.gatehouse);
  console.log(`Signed \`/request-access\` POSTs at ${rate}/s for ${seconds} s, open loop, after a ${WARMUP_SECONDS} s warm-up; ms from send to the end of the response. Medians of ${rounds.length} rounds; count, errors and "over 3 s" are totals.\n`);
  console.log('| app | p50 ms | p99 ms | max ms | count | errors | over 3 s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(ackRow('bare Bolt app (ack only)', bare));
  console.log(ackRow('Gatehouse', gatehouse));
  const ratio = median(gatehouse.map((r) => r.summary.p99)) / median(bare.map((r) => r.summary.p99));
  const ratios = rounds.map((r) => fmt(r.gatehouse.summary.p99 / r.bare.summary.p99, 2)).join(', ');
  console.log(`\nTarget Gatehouse p99 ≤ 2 × bare p99: ${ratio <= 2 ? 'met' : 'NOT met'} (${fmt(ratio, 2)} ×; by round: ${ratios}).\n`);

  console.log('| round | app | p50 ms | p99 ms | max ms | event-loop delay p99 / max ms | app process CPU | machine busy | sender behind by, max ms |');
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  rounds.forEach((round, i) => {
    const runs: [string, AckRun][] = [['bare', round.bare], ['Gatehouse', round.gatehouse]];
    for (const [label, run] of runs) {
      const s = run.summary;
      console.log(
        `| ${i + 1} | ${label} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} | ${ms(run.eventLoopDelay.p99)} / ${ms(run.eventLoopDelay.max)} | ${percent(run.appCpuPercent)} | ${percent(run.machineBusyPercent)} | ${ms(run.maxLagMs)} |`,
      );
    }
  });
  console.log('');
  rounds.forEach(({ gatehouse: run, after }, i) => {
    const filed = after.secondsToFile === null ? `not all within 60 s (${fmt(after.requestsFiled)})` : `all after ${fmt(after.secondsToFile, 1)} s more`;
    console.log(
      `- Round ${i + 1}, Gatehouse: ${fmt(run.acked)} commands acked (warm-up included), ${fmt(after.requestsAtEnd)} requests filed when the last ack arrived, ${filed}. ` +
        `Outbox: ${fmt(after.outbox.done)} of ${fmt(after.outbox.total)} notifications delivered; audit channel posted to seq ${fmt(after.audit.posted)} of ${fmt(after.audit.head)}. ` +
        `Slack calls: ${counts(after.slack.calls)} (errors ${fmt(after.slack.callErrors)}); response_url posts by status: ${counts(after.slack.responses)}. ` +
        `Warnings and errors logged: ${counts(after.problems)}.`,
    );
  });
  console.log(`- ${fmt(results.contractors)} contractors in the policy. Outcomes other than 200: bare ${failures(bare)}; Gatehouse ${failures(gatehouse)}.\n`);
}

function lagRow(label: string, s: Summary): string {
  return `| ${label} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} | ${fmt(s.count)} |`;
}

export function printExpiry(r: ExpiryResults): void {
  console.log(
    `${fmt(r.grants)} grants of ${r.durationSeconds} s, filed and approved through AccessService ${r.spreadSeconds > 0 ? `at an even pace over ${r.spreadSeconds} s` : 'as fast as possible'} (took ${fmt(r.createSeconds, 1)} s); ` +
      `due over ${fmt(r.endsSpanSeconds, 1)} s, the first ${fmt(r.headroomSeconds, 1)} s after the last was created. Sweeps every second.\n`,
  );
  console.log('| measure | p50 ms | p99 ms | max ms | grants |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(lagRow('**lag: `ended_at − ends_at`**', r.lag));
  console.log(lagRow('due → claimed (`grant.ending` event)', r.claimLag));
  console.log(lagRow('claimed → ended (revoke, commit)', r.revokeTime));
  const met = r.lag.count === r.grants && r.lag.p99 <= 2000;
  console.log(`\nTarget p99 ≤ 2 s: ${met ? 'met' : 'NOT met'} (${fmt(r.lag.p99 / 1000, 2)} s; ${fmt(r.lag.count)} of ${fmt(r.grants)} ended).\n`);
  console.log(`- Grants by status: ${counts(r.statuses)}; by end reason: ${counts(r.endReasons)}.`);
  console.log(`- Then: outbox ${fmt(r.outbox.done)} of ${fmt(r.outbox.total)} notifications delivered; audit channel posted to seq ${fmt(r.audit.posted)} of ${fmt(r.audit.head)}.`);
  console.log(`- Slack calls by the app: ${counts(r.slack.calls)} (errors ${fmt(r.slack.callErrors)}).`);
  console.log(`- Warnings and errors logged: ${counts(r.problems)}.`);
}
