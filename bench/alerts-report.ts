/** The alerts benchmark's report, as Markdown tables for docs/benchmarks.md §7. */
import type { AlertsResults } from './alerts.ts';
import type { LatencyRun } from './alerts-latency.ts';
import type { LoadRun, ThroughputResults } from './alerts-throughput.ts';
import { counts, fmt, ms } from './format.ts';
import type { Summary } from './percentiles.ts';

/**
 * What a run must show to say the watcher kept up: it was never more than a second of the
 * stream behind the chain's head, and at the head within a second of the load's end.
 */
function keptUp(run: LoadRun, rate: number): boolean {
  return run.lagMax <= rate && run.catchUpSeconds <= 1;
}

const percent = (n: number | null) => (n === null ? 'n/a' : `${fmt(n)} %`);
const perSecond = (n: number, seconds: number) => fmt(n / seconds);

function printThroughput(t: ThroughputResults): void {
  const { rate, seconds } = t.options;
  console.log(`### Throughput: ${fmt(rate)} events/s offered for ${seconds} s\n`);
  console.log(
    '| run | offered/s | chained/s | watched/s | lag at end | lag max | queued max | caught up after | watcher CPU | sequencer CPU | machine busy | load 1 min |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of [t.chainOnly, t.watched]) {
    const s = run.offered.seconds;
    console.log(
      `| ${run.watcher ? 'sequencer + watcher' : 'sequencer alone (baseline)'} | ${perSecond(run.offered.events, s)} | ${perSecond(run.chained, s)} | ${run.watcher ? perSecond(run.watched, s) : ''} | ${run.watcher ? fmt(run.lagAtEnd) : ''} | ${run.watcher ? fmt(run.lagMax) : ''} | ${fmt(run.queuedMax)} | ${fmt(run.catchUpSeconds, 2)} s | ${percent(run.watcherCpu)} | ${percent(run.sequencerCpu)} | ${percent(run.machineBusy)} | ${fmt(run.load1, 2)} |`,
    );
  }
  const w = t.watched;
  const events = Object.values(w.made).reduce((a, b) => a + b, 0);
  const gateway = Object.entries(w.made)
    .filter(([action]) => action.startsWith('gateway.'))
    .reduce((sum, [, n]) => sum + n, 0);
  console.log(
    `\nThe stream: ${fmt(events)} events, ${fmt((100 * gateway) / events, 1)} % of them the gateway's (${counts(w.made)}), in ${fmt(w.offered.commits)} commits.`,
  );
  console.log(`Alerts raised in the watched run: ${counts(w.alerts)}. Watcher RSS ${fmt(w.watcherRssMb ?? 0)} MB.`);
  if (t.restart) {
    const r = t.restart;
    // Each detector's replay reads its window and a 5 s margin, at most the whole chain (which came at `rate`).
    const reach = (lookbackMs: number) => (rate * (lookbackMs + 5000)) / 1000;
    const scanned = r.lookbacksMs.reduce((sum, lookback) => sum + Math.min(r.onChain, reach(lookback)), 0);
    const pace = scanned / (r.firstRoundMs / 1000);
    const hour = r.lookbacksMs.reduce((sum, lookback) => sum + reach(lookback), 0);
    console.log(
      `\nRestart: a new watcher process on that chain (${fmt(r.onChain)} events): its first round rebuilt ${r.lookbacksMs.length} detectors' windows (looking back ${r.lookbacksMs.map((l) => `${fmt(l / 1000)} s`).join(', ')}: about ${fmt(scanned)} events read, ${fmt(r.replayed)} of them replayed) and watched one batch in ${fmt(r.firstRoundMs)} ms; at the head after ${fmt(r.caughtUpSeconds, 2)} s, RSS ${fmt(r.rssMb)} MB after. At that pace (${fmt(pace)} events read a second), a restart after an hour of ${fmt(rate)} events/s reads ${fmt(hour)}: about ${fmt(hour / pace / 60, 1)} min before it watches anything.`,
    );
  }
  const b = t.backlog;
  const p = b.passes;
  console.log(`\n**Ceilings** on a backlog of ${fmt(b.events)} events (timed as ${fmt(rate)}/s):\n`);
  console.log('| alone on the backlog | seconds | events/s | CPU, % of one core | machine busy |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(
    `| sequencer (queue → chain) | ${fmt(b.chainSeconds, 2)} | ${perSecond(b.events, b.chainSeconds)} | ${percent(b.sequencerCpu)} | ${percent(b.machineBusy[0])} |`,
  );
  console.log(
    `| watcher (chain → alerts) | ${fmt(b.watchSeconds, 2)} | ${perSecond(b.events, b.watchSeconds)} | ${percent(b.watcherCpu)} | ${percent(b.machineBusy[1])} |`,
  );
  console.log(
    `| of which: reading the events (a pass that only reads, as rounds do) | ${fmt(p.readMs / 1000, 2)} | ${perSecond(p.events, p.readMs / 1000)} | | |`,
  );
  console.log(
    `| of which: the detectors (a pass over events in memory, facts from the database) | ${fmt(p.detectMs / 1000, 2)} | ${perSecond(p.events, p.detectMs / 1000)} | | |`,
  );
  console.log(
    `| for comparison: reading the canonical text, parsed in the watcher's process | ${fmt(p.rawReadMs / 1000, 2)} | ${perSecond(p.events, p.rawReadMs / 1000)} | | |`,
  );
  console.log(
    `\nAlerts raised on the backlog: ${counts(b.alerts)}. Watcher RSS ${fmt(b.watcherRssMb)} MB. The detectors' pass found ${counts(p.findings)}.`,
  );
  const met = keptUp(w, rate);
  const chainRate = w.chained / w.offered.seconds;
  console.log(
    `\nTarget: the watcher keeps up with ${fmt(rate)} events/s with every detector on: ${met ? 'met' : 'NOT met'} (watched ${perSecond(w.watched, w.offered.seconds)}/s of ${perSecond(w.offered.events, w.offered.seconds)}/s offered, ${fmt(w.lagAtEnd)} behind at the end, using ${percent(w.watcherCpu)} of one core).` +
      (chainRate < 0.98 * rate
        ? ` The chain itself took ${fmt(chainRate)}/s: the watcher cannot watch what is not chained.`
        : ''),
  );
}

const cells = (s: Summary) => `${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${ms(s.max)}`;

function printLatency(runs: LatencyRun[]): void {
  if (runs.length === 0) return;
  console.log(
    `\n### Event committed → alert posted${runs.some((run) => run.prelinked) ? ' (evidence prelinked: BENCH_ALERTS_PRELINKED=1)' : ''}\n`,
  );
  console.log(
    '| background events/s | offered/s | alerts | trigger | posted p50 ms | p95 ms | **p99 ms** | max ms | not posted | alert.raised p50 / p99 ms | delivered p50 / p99 ms | machine busy |',
  );
  console.log('| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of runs) {
    const offered = fmt(run.background.events / run.background.seconds);
    console.log(
      `| ${fmt(run.rate)} | ${offered} | ${run.posted.count} | all | ${cells(run.posted)} | ${run.notPosted} | ${ms(run.recorded.p50)} / ${ms(run.recorded.p99)} | ${ms(run.delivered.p50)} / ${ms(run.delivered.p99)} | ${percent(run.machineBusy)} |`,
    );
    for (const [kind, summary] of Object.entries(run.postedByKind))
      console.log(`| | | ${summary.count} | ${kind} | ${cells(summary)} | | | | |`);
  }
  console.log('');
  for (const run of runs)
    console.log(
      `At ${fmt(run.rate)}/s: the background stream raised ${counts(run.backgroundAlerts)}. Outbox delivered: ${counts(run.outboxDelivered)}; due and waiting at most: ${counts(run.outboxDueMax)}. The audit feed was ${fmt(run.feedBehind)} events behind at the end. The app made ${counts(run.slackCalls)}; its warnings and errors: ${counts(run.problems)}.\n`,
    );
  const worst = Math.max(...runs.map((run) => run.posted.p99));
  const all = runs.every((run) => run.notPosted === 0);
  console.log(
    `\nTarget p99 ≤ 2 s: ${worst <= 2000 && all ? 'met' : 'NOT met'} (worst p99 ${ms(worst)} ms${all ? '' : ', some alerts not posted'}).\n`,
  );
}

export function printAlerts(results: AlertsResults): void {
  if (results.throughput) printThroughput(results.throughput);
  printLatency(results.latency);
}
