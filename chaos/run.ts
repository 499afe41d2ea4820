/**
 * `npm run chaos`: three Gatehouse replicas on one PostgreSQL, behind a round-robin load
 * balancer, with the fake Slack and its people in a process of their own; CHAOS_SECONDS of
 * mixed load while replicas are killed (-9), PostgreSQL restarts and Slack fails; then,
 * once settled, the invariants as a table. Exit 1 if any fails. Loopback only, bounded.
 * Settings: chaos/settings.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BENCH_BOT_TOKEN, BENCH_SIGNING_SECRET } from '../bench/bench-gatehouse.ts';
import { machine } from '../bench/cluster.ts';
import { childEnv, runNode } from '../test/support/process.ts';
import { AccessWatch } from './access-watch.ts';
import { channelRow, commandOutcomes, commandRow, gatewayRows, grantRows, printTable, type Row } from './checks.ts';
import { runFaults, type FaultLog } from './faults.ts';
import { startFront } from './front.ts';
import { startTcpFront } from './tcp-front.ts';
import {
  AUDIT_CHANNEL,
  GATEWAY_RESOURCE,
  MFA_RESOURCE,
  READERS_ROLE,
  RESOURCES,
  TARGET_DATABASE,
  TARGET_ENV,
  chaosPeople,
  chaosPolicy,
} from './policy.ts';
import { startChaosPostgres } from './postgres.ts';
import { Replicas } from './replicas.ts';
import { chaosSettings } from './settings.ts';
import { backlog, chainCount, commandFacts, gatewayFacts, grantFacts, settled, tallies, withClient } from './state.ts';
import { WorldProcess } from './world-process.ts';

const GATEHOUSE_DATABASE = 'gatehouse_chaos';
const s = chaosSettings(process.env);
const print = (...lines: string[]) => process.stdout.write(`${lines.join(' ')}\n`);
const log = (line: string) => print(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const cleanups: (() => Promise<unknown>)[] = [];
const cleanup = async () => {
  for (const step of cleanups.reverse()) await step().catch(() => undefined);
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function main(): Promise<number> {
  log(
    `${machine()}; load average ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
  log(`settings: ${JSON.stringify(s)}`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-chaos-'));
  const pg = await startChaosPostgres();
  cleanups.push(() => pg.stop());
  log(`PostgreSQL: ${await pg.version()}`);
  await pg.createDatabase(GATEHOUSE_DATABASE);
  await pg.createDatabase(TARGET_DATABASE);
  await withClient(pg.url(TARGET_DATABASE), async (client) => {
    await client.query(`create role ${READERS_ROLE} nologin`);
    await client.query('create table chaos_orders (id int primary key, total int)');
    await client.query('insert into chaos_orders select n, n * 7 from generate_series(1, 100) n');
    await client.query(`grant select on chaos_orders to ${READERS_ROLE}`);
  });
  const databaseUrl = pg.url(GATEHOUSE_DATABASE);

  const people = chaosPeople(s.contractors, s.mfaUsers);
  const policyFile = path.join(dir, 'gatehouse.yml');
  await fs.writeFile(policyFile, chaosPolicy(people));
  const keys = generateKeyPairSync('ed25519');
  const publicKeyFile = path.join(dir, 'checkpoint.pub.pem');
  await fs.writeFile(publicKeyFile, keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const anchorFile = path.join(dir, 'anchors.jsonl');
  const logFile = path.join(dir, 'replicas.log');

  let replicas: Replicas | null = null;
  const front = await startFront(() => replicas?.replicas ?? []);
  cleanups.push(() => front.stop());
  const world = await WorldProcess.start({
    frontUrl: front.url,
    signingSecret: BENCH_SIGNING_SECRET,
    auditChannel: AUDIT_CHANNEL,
    ...people,
    resources: [...RESOURCES],
    mfaResource: MFA_RESOURCE,
    gatewayResource: GATEWAY_RESOURCE,
  });
  cleanups.push(() => world.stop());
  const gatewayFront = await startTcpFront(() => replicas?.replicas.map((r) => r.gatewayPort) ?? []);
  cleanups.push(() => gatewayFront.stop());
  const slackEnv = { SLACK_BOT_TOKEN: BENCH_BOT_TOKEN, SLACK_API_URL: world.apiUrl };
  replicas = await Replicas.start(
    s.replicas,
    {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      GATEHOUSE_POLICY: policyFile,
      SLACK_SIGNING_SECRET: BENCH_SIGNING_SECRET,
      ...slackEnv,
      GATEHOUSE_CHECKPOINT_KEY: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      GATEHOUSE_ANCHOR_FILE: anchorFile,
      GATEHOUSE_SECRETS_KEY: 'c'.repeat(64),
      [TARGET_ENV]: pg.url(TARGET_DATABASE),
      GATEHOUSE_GATEWAY_PUBLIC_ADDRESS: `127.0.0.1:${gatewayFront.port}`,
    },
    logFile,
  );
  const running = replicas;
  cleanups.push(() => running.stopAll());
  log(`${s.replicas} replicas ready behind ${front.url}; logs in ${logFile}`);
  log(`MFA: ${await world.enrol()} people enrolled through /access mfa`);

  const watch = new AccessWatch(databaseUrl);
  watch.start();
  cleanups.push(() => watch.stop());
  const started = Date.now();
  log(`load for ${s.seconds} s (${people.contractors.length} contractors, ${people.owners.length} owners)`);
  let loadEnded = 0;
  const loadDone = world.load(s.seconds, s.quietTailSeconds).then(() => (loadEnded = Date.now()));
  const faults: FaultLog[] = await runFaults(s, started, {
    killReplica: async (i) => {
      const replica = running.replicas[i % running.replicas.length]!;
      await running.kill(replica);
      return replica;
    },
    restartReplica: (replica) => running.launch(replica),
    restartPostgres: (mode) => pg.restart(mode),
    slackFault: (ms) => world.slackFault(ms),
    log,
  });
  await loadDone;
  // Commands are sent for s.seconds; the stories under way then are let finish (or give up).
  const loadSeconds = s.seconds;
  log(
    `load over after ${((loadEnded - started) / 1000).toFixed(0)} s (the last stories finished); settling (at most ${s.settleSeconds} s)`,
  );

  const settleStarted = Date.now();
  let last = await withClient(databaseUrl, backlog);
  while (!settled(last) && Date.now() - settleStarted < s.settleSeconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    last = await withClient(databaseUrl, backlog).catch(() => last);
  }
  const settleSeconds = (Date.now() - settleStarted) / 1000;
  log(`settled: ${settled(last)} after ${settleSeconds.toFixed(0)} s; ${JSON.stringify(last)}`);
  await watch.stop();
  await watch.sample();

  const report = await world.report();
  const [chain, grants, recorded, counts, gateway] = await withClient(
    databaseUrl,
    async (client) =>
      [
        await chainCount(client),
        await grantFacts(client),
        await commandFacts(client),
        await tallies(client),
        await gatewayFacts(client),
      ] as const,
  );
  const verify = await runNode(
    ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify', '--public-key', publicKeyFile, '--anchors', anchorFile],
    childEnv({ DATABASE_URL: databaseUrl, GATEHOUSE_POLICY: policyFile, ...slackEnv }),
  );
  const readiness = await running.readiness();

  const rows: Row[] = [
    ...channelRow(chain.head, chain.count, report.auditSeqs),
    ...grantRows(
      grants,
      [...watch.breaches.values()],
      watch.validPastEnd.size,
      `${watch.samples} samples (${watch.failedSamples} missed)`,
    ),
    commandRow(report.commands, recorded),
    ...gatewayRows(report.stories.gateway, gateway),
    {
      name: 'chain, checkpoints and anchors verify',
      expected: '`gatehouse audit verify` exits 0',
      observed: `exit ${verify.code}: ${lastLines(verify.output, 3)}`,
      pass: verify.code === 0,
    },
    {
      name: 'no replica left unready',
      expected: `${s.replicas} × /readyz 200`,
      observed: readiness.map((r) => `${r.name} ${r.status}`).join(', '),
      pass: readiness.every((r) => r.status === 200),
    },
    {
      name: 'settled within the bound',
      expected: `grants ended, queues drained, feed caught up, gateway sessions ended within ${s.settleSeconds} s`,
      observed: `${settleSeconds.toFixed(0)} s; live grants ${last.liveGrants}, queued ${last.queued}, outbox ${last.outbox}, posted ${last.postedSeq}/${last.headSeq}, open gateway sessions ${last.openSessions}`,
      pass: settled(last),
    },
  ];

  const outcomes = commandOutcomes(report.commands, recorded);
  print('\n## Throughput');
  print(
    `commands offered ${(report.commands.length / loadSeconds).toFixed(2)}/s (${report.commands.length} in ${loadSeconds.toFixed(0)} s), ` +
      `handled ${((outcomes.recorded + outcomes.answered) / loadSeconds).toFixed(2)}/s (recorded or answered), ` +
      `${outcomes.slackError} failed at Slack; clicks and submissions ${JSON.stringify(report.stories.interactions)}`,
  );
  print(`per minute (sent/handled): ${perMinute(report.commands, started, recorded.recorded)}`);
  print(
    `events chained ${chain.head} (${(chain.head / ((Date.now() - started) / 1000)).toFixed(1)}/s from the load's start to the check)`,
  );
  print(`front: ${JSON.stringify(front.counts)}`);
  print(`stories: ${JSON.stringify(report.stories)}`);
  print(`database: ${JSON.stringify(counts)}`);
  print(`Slack calls: ${JSON.stringify(report.calls)}; failed on purpose: ${JSON.stringify(report.injectedFailures)}`);
  for (const r of report.repeatedPosts.slice(0, 10))
    print(
      `audit channel: seq ${r.seq} posted at ${r.at.map((t) => `t=${((t - started) / 1000).toFixed(1)} s`).join(' and ')}`,
    );
  print('\n## Faults injected');
  for (const f of faults) print(`- t=${f.at.toFixed(0)} s: ${f.what} (${f.outcome})`);
  print('\n## Invariants');
  print(printTable(rows));
  const problems = Object.entries(running.problems).sort((a, b) => b[1] - a[1]);
  print(`\nreplica warnings/errors by message (${problems.length} kinds):`);
  for (const [message, n] of problems.slice(0, 15)) print(`  ${n} × ${message.slice(0, 160)}`);
  print(
    `load average at the end: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
  return rows.some((r) => r.pass === false) ? 1 : 0;
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').filter(Boolean).slice(-n).join(' / ').slice(0, 300);
}

function perMinute(
  commands: { sentAt: number; token: string; answers: string[]; formShown: boolean }[],
  started: number,
  recorded: Set<string>,
): string {
  const buckets: { sent: number; handled: number }[] = [];
  for (const c of commands) {
    const minute = Math.floor((c.sentAt - started) / 60_000);
    buckets[minute] ??= { sent: 0, handled: 0 };
    buckets[minute].sent += 1;
    if (recorded.has(c.token) || c.answers.length > 0 || c.formShown) buckets[minute].handled += 1;
  }
  return [...buckets].map((b, i) => `m${i + 1} ${b?.sent ?? 0}/${b?.handled ?? 0}`).join(', ');
}

let code = 1;
try {
  code = await main();
} catch (err) {
  print(String((err as Error).stack ?? err));
} finally {
  await cleanup();
}
process.exit(code);
