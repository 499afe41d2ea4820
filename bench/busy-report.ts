/** The busy-day benchmark's figures (bench/busy.ts), from what the load child saw, as markdown. */
import type { BusyPhase, BusyPhaseName, BusyResults } from './busy.ts';
import { BUSY_WARMUP_SECONDS } from './busy.ts';
import type { BusyLoadResult, Timed } from './busy-load-child.ts';
import { counts, fmt, ms } from './format.ts';
import { summarize, type Summary } from './percentiles.ts';

/** The target: Gatehouse's ack p99 under the busy day at most this many times the quiet bare app's. */
export const BUSY_TARGET_RATIO = 1.5;

export interface AckFigures {
  all: Summary;
  /** Acks of commands sent while a `/verify-audit` was running (sent to answered), and the others. */
  duringVerify: Summary;
  outsideVerify: Summary;
  errors: number;
  over3s: number;
}

function counted(load: BusyLoadResult, timed: Timed[]): Timed[] {
  return timed.filter((t) => t.sentMs >= load.windowStartMs && t.sentMs < load.windowEndMs);
}

export function ackFigures(load: BusyLoadResult): AckFigures {
  const commands = counted(load, load.commands);
  const verifying = (t: number) =>
    load.verifications.some((v) => t >= v.sentMs && t < (v.answeredMs ?? Number.POSITIVE_INFINITY));
  const ok = commands.filter((c) => c.ms !== null);
  const list = (of: Timed[]) => of.map((c) => c.ms!);
  return {
    all: summarize(list(ok)),
    duringVerify: summarize(list(ok.filter((c) => verifying(c.sentMs)))),
    outsideVerify: summarize(list(ok.filter((c) => !verifying(c.sentMs)))),
    errors: commands.length - ok.length,
    over3s: ok.filter((c) => c.ms! > 3000).length,
  };
}

export interface FeedFigures {
  /** head − posted, sampled every 100 ms over the window. */
  behind: Summary;
  /** The same after the window, until the feed had caught up (or gave up). */
  behindAfterMax: number;
  /** ms from the sample that first saw a seq chained to the one that first saw it posted, for each seq chained in the window. */
  chainedToPosted: Summary;
  chainedInWindow: number;
  notPosted: number;
  /** ms after the window's end at which the feed had posted everything chained in it; null: not within the drain time. */
  caughtUpAfterMs: number | null;
}

export function feedFigures(load: BusyLoadResult): FeedFigures | null {
  const samples = load.feed;
  if (samples.length === 0) return null;
  const inWindow = samples.filter(([t]) => t >= load.windowStartMs && t < load.windowEndMs);
  const first = inWindow[0] ?? samples[0]!;
  const last = [...samples].reverse().find(([t]) => t < load.windowEndMs) ?? first;
  const headAtStart = first[1];
  const headAtEnd = last[1];
  // Each seq's first sighting, chained and posted (samples are in time order, both counters only grow).
  const latencies: number[] = [];
  let notPosted = 0;
  let c = 0;
  let p = 0;
  for (let seq = headAtStart + 1; seq <= headAtEnd; seq++) {
    while (c < samples.length && samples[c]![1] < seq) c++;
    while (p < samples.length && samples[p]![2] < seq) p++;
    if (c >= samples.length) break;
    if (p >= samples.length) notPosted += 1;
    else latencies.push(Math.max(0, samples[p]![0] - samples[c]![0]));
  }
  const after = samples.filter(([t]) => t >= load.windowEndMs);
  const caughtUp = after.find(([, , posted]) => posted >= headAtEnd);
  return {
    behind: summarize(inWindow.map(([, head, posted]) => head - posted)),
    behindAfterMax: Math.max(0, ...after.map(([, head, posted]) => head - posted)),
    chainedToPosted: summarize(latencies),
    chainedInWindow: headAtEnd - headAtStart,
    notPosted,
    caughtUpAfterMs: caughtUp ? caughtUp[0] - load.windowEndMs : null,
  };
}

const LABEL: Record<BusyPhaseName, string> = {
  quiet: 'bare Bolt app, quiet',
  verify: '`/verify-audit` alone',
  'bare-busy': 'bare Bolt app, Gatehouse busy beside it',
  busy: '**Gatehouse, busy day**',
};

const pct = (n: number | null | undefined) =>
  n === null || n === undefined || Number.isNaN(n) ? 'n/a' : `${fmt(n)} %`;
const row = (s: Summary) => `${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${ms(s.max)} | ${fmt(s.count)}`;

export function printBusy(r: BusyResults): void {
  const s = r.settings;
  console.log(
    `Signed \`/request-access\` at ${s.rate}/s, open loop, ${s.seconds} s counted after a ${BUSY_WARMUP_SECONDS} s warm-up, in each phase. ` +
      `The log: ${fmt(s.events)} chained events (${r.tableSize}, filled in ${fmt(r.fillSeconds, 1)} s). ` +
      `Busy phases: ${fmt(s.grants)} grants falling due over ${s.expirySpreadSeconds} s from ${10} s into the window, ` +
      `${fmt(s.approvals)} approval cards clicked by two owners spread over the window, \`/verify-audit\` one after another through the window. ` +
      `${fmt(r.contractors)} contractors in the policy.\n`,
  );
  console.log('| phase | p50 ms | p95 ms | p99 ms | max ms | acks | errors | over 3 s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const figures = new Map(r.phases.map((p) => [p.name, ackFigures(p.load)]));
  for (const p of r.phases) {
    if (p.name === 'verify') continue;
    const f = figures.get(p.name)!;
    console.log(`| ${LABEL[p.name]} | ${row(f.all)} | ${fmt(f.errors)} | ${fmt(f.over3s)} |`);
  }
  const busy = figures.get('busy');
  const quiet = figures.get('quiet');
  const bareBusy = figures.get('bare-busy');
  if (busy && quiet) {
    const ratio = busy.all.p99 / quiet.all.p99;
    console.log(
      `\nTarget Gatehouse p99 (busy) ≤ ${BUSY_TARGET_RATIO} × bare Bolt p99 (quiet): **${ratio <= BUSY_TARGET_RATIO ? 'met' : 'NOT met'}** (${fmt(ratio, 2)} ×).` +
        (bareBusy
          ? ` Against the bare app under the same background load: ${fmt(busy.all.p99 / bareBusy.all.p99, 2)} ×.`
          : ''),
    );
  }
  const failed = r.phases.flatMap((p) =>
    counted(p.load, p.load.commands)
      .filter((c) => c.ms === null)
      .map((c) => `${p.name}: ${c.outcome}`),
  );
  if (failed.length) console.log(`\nFailed commands (phase: outcome): ${counts(tally(failed))}.`);
  console.log('\nAcks split by whether a `/verify-audit` was running when the command was sent:\n');
  console.log('| phase | while verifying: p50 / p99 / max ms (acks) | not verifying: p50 / p99 / max ms (acks) |');
  console.log('| --- | ---: | ---: |');
  for (const p of r.phases) {
    if (p.name !== 'busy' && p.name !== 'bare-busy') continue;
    const f = figures.get(p.name)!;
    const cell = (x: Summary) => (x.count ? `${ms(x.p50)} / ${ms(x.p99)} / ${ms(x.max)} (${fmt(x.count)})` : 'none');
    console.log(`| ${LABEL[p.name]} | ${cell(f.duringVerify)} | ${cell(f.outsideVerify)} |`);
  }
  console.log('\nWhere the CPU went over each window (% of one core; machine busy: % of all cores):\n');
  console.log(
    '| phase | app main thread | app background thread | other app threads | PostgreSQL | load process | machine busy | event-loop delay p99 / max ms | load avg 1 min | sender late, max ms |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of r.phases) {
    const c = p.cpu;
    const seconds = (p.load.windowEndMs - p.load.windowStartMs) / 1000;
    console.log(
      `| ${LABEL[p.name]} | ${pct(c?.main)} | ${pct(c?.background)} | ${pct(c?.otherAppThreads)} | ${pct(c?.postgres)} | ${pct((100 * p.load.cpuMs) / 1000 / (seconds + BUSY_WARMUP_SECONDS))} | ${pct(c?.machineBusy)} | ` +
        `${ms(p.eventLoopDelay.p99)} / ${ms(p.eventLoopDelay.max)} | ${fmt(p.loadAverage[0] ?? Number.NaN, 2)} | ${ms(p.load.maxLagMs)} |`,
    );
  }
  console.log('\nThe rest of the busy phases:\n');
  console.log(
    '| phase | expiry lag p50 / p99 / max ms (ended of grants); end → claim p50 / p99 / max ms | approval clicks: ack p50 / p99 / max ms (clicked, errors; grants active) | feed behind (head − posted), p99 / max in window; max after | chained → posted p50 / p99 / max ms (events; not posted) | feed caught up after the window | verifications: s each (whole) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of r.phases) {
    if (p.name === 'quiet') continue;
    console.log(`| ${LABEL[p.name]} | ${restOf(p)} |`);
  }
  console.log('');
  const prepared = r.phases.filter((p) => p.prepareSeconds !== null);
  console.log(
    `- Preparing each busy phase (grants, queue, their notifications delivered) took ${prepared.map((p) => `${fmt(p.prepareSeconds!, 0)} s (${fmt(p.outboxLeft ?? 0)} notifications still due at the start)`).join(', ') || 'n/a'}; the audit feed was then moved past the preparation's events, so its lag in the window is the window's own.`,
  );
  console.log(
    `- The app's \`audit.verified\` records: ${r.verified.filter((v) => v.ok).length} of ${r.verified.length} ok, events checked ${fmt(Math.min(...r.verified.map((v) => v.checked)))}–${fmt(Math.max(...r.verified.map((v) => v.checked)))}.`,
  );
  const load = (l: number[]) => l.map((x) => fmt(x, 2)).join(' / ');
  console.log(
    `- Load average (1 / 5 / 15 min) before: ${load(r.loadAverage.before)}, after: ${load(r.loadAverage.after)}. The whole benchmark took ${fmt(r.totalSeconds, 0)} s.`,
  );
  if (r.slack)
    console.log(
      `- Slack calls: ${counts(r.slack.calls)} (errors ${fmt(r.slack.callErrors)}); response_url posts by status: ${counts(r.slack.responses)}.`,
    );
  console.log(`- Warnings and errors logged: ${counts(r.problems)}.\n`);
}

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function restOf(p: BusyPhase): string {
  const e = p.expiry;
  const expiry = e
    ? `${ms(e.lag.p50)} / ${ms(e.lag.p99)} / ${ms(e.lag.max)} (${fmt(e.ended)} of ${fmt(e.grants)}); claimed: ${ms(e.claimLag.p50)} / ${ms(e.claimLag.p99)} / ${ms(e.claimLag.max)}`
    : '';
  const clicks = p.load.clicks;
  const ok = clicks.filter((c) => c.ms !== null).map((c) => c.ms!);
  const k = summarize(ok);
  const approvals = clicks.length
    ? `${ms(k.p50)} / ${ms(k.p99)} / ${ms(k.max)} (${fmt(clicks.length)}, ${fmt(clicks.length - ok.length)}; ${fmt(p.approvalsActive ?? 0)})`
    : '';
  const f = feedFigures(p.load);
  const behind = f ? `${fmt(f.behind.p99)} / ${fmt(f.behind.max)}; ${fmt(f.behindAfterMax)}` : '';
  const posted = f
    ? `${ms(f.chainedToPosted.p50)} / ${ms(f.chainedToPosted.p99)} / ${ms(f.chainedToPosted.max)} (${fmt(f.chainedInWindow)}; ${fmt(f.notPosted)})`
    : '';
  const caught = f ? (f.caughtUpAfterMs === null ? 'not within 120 s' : `${fmt(f.caughtUpAfterMs / 1000, 1)} s`) : '';
  const v = p.load.verifications;
  const answered = v.filter((x) => x.answeredMs !== null).map((x) => (x.answeredMs! - x.sentMs) / 1000);
  const took = summarize(answered);
  const verifications = v.length
    ? `${fmt(v.length)} (${fmt(v.filter((x) => x.whole).length)} whole): median ${fmt(took.p50, 2)}, max ${fmt(took.max, 2)}`
    : '';
  return `${expiry} | ${approvals} | ${behind} | ${posted} | ${caught} | ${verifications}`;
}
