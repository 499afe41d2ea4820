/** The gateway benchmark's results as Markdown, in the shape docs/benchmarks.md §6 quotes. */
import { fmt } from './format.ts';
import { printEnds } from './gateway-ends.ts';
import type { CommitFloor, GatewayResults, LoadRun } from './gateway.ts';

const pct = (n: number | null) => (n === null ? 'n/a' : `${fmt(n)} %`);

export function printGateway(r: GatewayResults): void {
  const [before, after] = r.commitFloor;
  const ms2 = (n: number) => fmt(n, 2);
  console.log(
    `Gatehouse's database, ${fmt(before.insert.count)} commits in a row of each kind, before the load and after it: the floor under each recorded statement.\n`,
  );
  console.log('| commit | when | p50 ms | p95 ms | p99 ms | max ms |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const [label, pick] of [
    ['one-row INSERT into a scratch table, autocommit', (f: CommitFloor) => f.insert],
    ["one statement's record alone (GroupAppender.append)", (f: CommitFloor) => f.record],
  ] as const)
    for (const [when, f] of [
      ['before', pick(before)],
      ['after', pick(after)],
    ] as const)
      console.log(`| ${label} | ${when} | ${ms2(f.p50)} | ${ms2(f.p95)} | ${ms2(f.p99)} | ${ms2(f.max)} |`);

  console.log(
    `\npgbench -S -n -T ${r.seconds}; latency of each transaction (one SELECT) from --log; "added" is gateway − direct at the same percentile:\n`,
  );
  console.log(
    '| -M | clients | path | tps | ÷ direct | p50 ms | p99 ms | added p50 ms | added p99 ms | failed | connecting ms | machine busy | load 1 min |',
  );
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const pair = (run: LoadRun) =>
    r.runs.find((o) => o.mode === run.mode && o.clients === run.clients && o.path === 'direct')!;
  for (const run of r.runs) {
    const p = run.pgbench;
    const direct = pair(run).pgbench;
    const gw = run.path === 'gateway';
    const failed = p.ok ? fmt(p.failed) : 'pgbench failed';
    console.log(
      `| ${run.mode} | ${run.clients} | ${run.path} | ${fmt(p.tps)} | ${gw ? fmt(p.tps / direct.tps, 2) : ''} | ${ms2(p.latency.p50)} | ${ms2(p.latency.p99)} | ${gw ? ms2(p.latency.p50 - direct.latency.p50) : ''} | ${gw ? ms2(p.latency.p99 - direct.latency.p99) : ''} | ${failed} | ${fmt(p.connectMs, 1)} | ${pct(run.machineBusy)} | ${fmt(run.load1, 2)} |`,
    );
  }
  for (const run of r.runs)
    if (!run.pgbench.ok) console.log(`\n-M ${run.mode} -c ${run.clients} ${run.path}: ${run.pgbench.failure}`);

  console.log(`\nThe gateway's side (its process held ${fmt(r.idleRssMb)} MB RSS before the load):\n`);
  console.log(
    '| -M | clients | CPU, % of one core | RSS peak MB | statements recorded | on the chain | pgbench transactions | recorded/s | commits/s | s ÷ commits, ms | events per commit | chained/s | queued at the end | caught up after s |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of r.runs) {
    const g = run.gateway;
    if (!g) continue;
    const commitsPerSecond = g.commits / r.seconds;
    console.log(
      `| ${run.mode} | ${run.clients} | ${fmt(g.cpuPercent)} % | ${fmt(g.rssPeakMb)} | ${fmt(g.statements)} | ${fmt(g.onChain)} | ${fmt(run.pgbench.transactions)} | ${fmt(g.statements / r.seconds)} | ${fmt(commitsPerSecond)} | ${ms2(1000 / commitsPerSecond)} | ${fmt(g.events / Math.max(1, g.commits), 1)} | ${fmt(g.chainedPerSecond)} | ${fmt(g.queuedAtEnd)} | ${fmt(g.drainSeconds, 1)} |`,
    );
  }

  console.log('');
  for (const run of r.runs.filter((o) => o.path === 'gateway')) {
    const direct = pair(run).pgbench;
    const p = run.pgbench;
    const g = run.gateway!;
    const allRecorded = p.ok && g.onChain === g.statements && g.statements >= p.transactions;
    if (run.clients === 1) {
      const p50 = p.latency.p50 - direct.latency.p50;
      const p99 = p.latency.p99 - direct.latency.p99;
      console.log(
        `-M ${run.mode}, 1 client: added p50 ${ms2(p50)} ms (target ≤ 1 ms: ${p.ok && p50 <= 1 ? 'met' : 'NOT met'}), added p99 ${ms2(p99)} ms (target ≤ 5 ms: ${p.ok && p99 <= 5 ? 'met' : 'NOT met'}); one INSERT commit alone, before / after: p50 ${ms2(before.insert.p50)} / ${ms2(after.insert.p50)}, p99 ${ms2(before.insert.p99)} / ${ms2(after.insert.p99)} ms; one record alone: p50 ${ms2(before.record.p50)} / ${ms2(after.record.p50)}, p99 ${ms2(before.record.p99)} / ${ms2(after.record.p99)} ms.`,
      );
    } else {
      const ratio = p.tps / direct.tps;
      console.log(
        `-M ${run.mode}, ${run.clients} clients: ${fmt(ratio, 2)} of direct (target ≥ 0.50 with every statement recorded: ${p.ok && ratio >= 0.5 && allRecorded ? 'met' : 'NOT met'}); ${allRecorded ? 'every statement recorded' : 'NOT every statement on the chain'}.`,
      );
    }
  }
  console.log(`\nThe chain afterwards: ${r.chain.ok ? 'whole' : 'BROKEN'}, ${fmt(r.chain.events)} events verified.\n`);
  printEnds(r.ends);
}
