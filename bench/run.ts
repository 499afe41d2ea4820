/**
 * `npm run bench [append|verify|slack|expiry|provision|verify-ack|gateway|alerts|anchors|merkle|busy]`: the performance targets, each beside a
 * baseline measured in the same run where there is one (`slack` is the ack benchmark and then
 * `expiry`). Results: docs/benchmarks.md.
 * Settings: BENCH_APPEND_SECONDS (5), BENCH_VERIFY_EVENTS (1000000), BENCH_REPEATS (3),
 * BENCH_SLACK_SECONDS (30), BENCH_SLACK_RATE (50), BENCH_EXPIRY_GRANTS (1000),
 * BENCH_EXPIRY_SPREAD_SECONDS (30,0: one set of expiry runs per value, 0 = as fast as possible),
 * BENCH_EXPIRY_VARIANTS (none,none-tick,postgres,postgres-tick: the provisioner, and `-tick` for
 * GATEHOUSE_EXPIRY_TIMER=false), BENCH_EXPIRY_SESSIONS (50: `postgres` grants whose holder keeps a
 * session open across the end, fewer if max_connections leaves no room), BENCH_EXPIRY_DUMP (a path
 * prefix: each expiry run writes one CSV line per grant to <prefix>-<variant>-<spread>s.csv),
 * BENCH_PROVISION_GRANTS (200: grants of each kind, approved one at a time),
 * BENCH_VERIFY_ACK_EVENTS (1000000: the log /verify-audit checks while acks are timed),
 * BENCH_VERIFY_ACK_BASELINE_SECONDS (10: each quiet window; BENCH_REPEATS rounds, BENCH_SLACK_RATE),
 * BENCH_GATEWAY_SECONDS (5: each pgbench run), BENCH_GATEWAY_MODES (simple,extended,prepared: pgbench -M),
 * BENCH_GATEWAY_SESSIONS (100) on BENCH_GATEWAY_GRANTS (10) for grant end → session closed,
 * BENCH_GATEWAY_COMMITS (1000: the commit floor), BENCH_PGBENCH (/usr/lib/postgresql/15/bin/pgbench),
 * BENCH_ALERTS_PARTS (throughput,latency), BENCH_ALERTS_RATE (5000: events/s offered) for
 * BENCH_ALERTS_SECONDS (20), BENCH_ALERTS_BACKLOG (200000: chained before the watcher starts, its
 * ceiling), BENCH_ALERTS_BATCH (2000: the watcher's events per round), BENCH_ALERTS_LATENCY_RATES
 * (1000,5000: background events/s, one latency run each), BENCH_ALERTS_TRIGGERS (200 alerts a run),
 * BENCH_ALERTS_TRIGGER_EVERY_MS (250), BENCH_ALERTS_PRELINKED (0; 1: a diagnostic, every seq counted as
 * posted by the audit feed, so alerts are not set again while their evidence links are missing),
 * BENCH_MERKLE_EVENTS (1000000: the log proofs are made in), BENCH_MERKLE_PROOFS (2000 of each kind),
 * BENCH_RECEIPT_EVENTS (1000000), BENCH_RECEIPT_STATEMENTS (1000), BENCH_RECEIPT_CHECKS (200) for `receipts` (not in `all`),
 * BENCH_ANCHORS_RATES (20,80: events/s, one run each) for BENCH_ANCHORS_SECONDS (40),
 * BENCH_BUSY_SECONDS (60: each phase's counted window), BENCH_BUSY_RATE (50: commands/s), BENCH_BUSY_GRANTS
 * (1000: falling due in each busy phase, over BENCH_BUSY_EXPIRY_SPREAD_SECONDS, 30), BENCH_BUSY_EVENTS (1000000: the
 * log /verify-audit checks), BENCH_BUSY_APPROVALS (200: cards the owners click in each busy phase),
 * BENCH_BUSY_LEAD_SECONDS (120: to prepare a busy phase), BENCH_BUSY_VERIFY_SECONDS (15: the verification alone),
 * BENCH_BUSY_PHASES (quiet,verify,bare-busy,busy),
 * BENCH_SIEM_SECONDS (10), BENCH_SIEM_WRITERS (8), BENCH_SIEM_BATCH (500), BENCH_SIEM_DESTINATIONS (otlp,syslog) for `siem` (not in `all`),
 * BENCH_DATABASE_URL (default: a throwaway embedded cluster).
 */
import { benchAck, WARMUP_SECONDS } from './ack.ts';
import { benchAlerts, parseAlertsOptions } from './alerts.ts';
import { benchAnchors, printAnchors } from './anchors.ts';
import { printAlerts } from './alerts-report.ts';
import { benchAppend } from './append.ts';
import { benchBusy, parseBusySettings } from './busy.ts';
import { printBusy } from './busy-report.ts';
import { benchServer, machine } from './cluster.ts';
import { benchExpiry, parseExpiryVariants, type ExpiryResults } from './expiry.ts';
import { fmt, median } from './format.ts';
import { benchMerkle, parseMerkleOptions, printMerkle } from './merkle.ts';
import { benchReceipts, parseReceiptsOptions, printReceipts } from './receipts.ts';
import { benchSiem, parseSiemOptions, printSiem } from './siem.ts';
import { printGateway } from './gateway-report.ts';
import { benchGateway, parseGatewayOptions } from './gateway.ts';
import { benchProvision, printProvision, PROVISION_WARMUP_ROUNDS } from './provision.ts';
import { printAck, printExpiry, printExpiryComparison } from './slack-report.ts';
import { benchVerify, printVerify } from './verify.ts';
import { benchVerifyAck, printVerifyAck, VERIFY_ACK_WARMUP_SECONDS } from './verify-ack.ts';

const which = process.argv[2] ?? 'all';
const appendSeconds = Number(process.env.BENCH_APPEND_SECONDS ?? 5);
const verifyEvents = Number(process.env.BENCH_VERIFY_EVENTS ?? 1_000_000);
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const slackSeconds = Number(process.env.BENCH_SLACK_SECONDS ?? 30);
const slackRate = Number(process.env.BENCH_SLACK_RATE ?? 50);
const expiryGrants = Number(process.env.BENCH_EXPIRY_GRANTS ?? 1000);
const expirySpreads = (process.env.BENCH_EXPIRY_SPREAD_SECONDS ?? '30,0').split(',').map(Number);
const expiryVariants = parseExpiryVariants(
  process.env.BENCH_EXPIRY_VARIANTS ?? 'none,none-tick,postgres,postgres-tick',
);
const expirySessions = Number(process.env.BENCH_EXPIRY_SESSIONS ?? 50);
const provisionGrants = Number(process.env.BENCH_PROVISION_GRANTS ?? 200);
const verifyAckEvents = Number(process.env.BENCH_VERIFY_ACK_EVENTS ?? 1_000_000);
const verifyAckBaselineSeconds = Number(process.env.BENCH_VERIFY_ACK_BASELINE_SECONDS ?? 10);
const gatewayOptions = parseGatewayOptions(process.env);
const alertsOptions = parseAlertsOptions(process.env);
const merkleOptions = parseMerkleOptions(process.env);
if (!Number.isInteger(verifyAckEvents) || verifyAckEvents < 1)
  throw new Error('BENCH_VERIFY_ACK_EVENTS must be a whole number of at least 1');
if (!(verifyAckBaselineSeconds > 0 && verifyAckBaselineSeconds <= 600))
  throw new Error('BENCH_VERIFY_ACK_BASELINE_SECONDS must be more than 0 and at most 600');
if (!Number.isInteger(expiryGrants) || expiryGrants < 1)
  throw new Error('BENCH_EXPIRY_GRANTS must be a whole number of at least 1');
if (!expirySpreads.every((spread) => spread >= 0))
  throw new Error('BENCH_EXPIRY_SPREAD_SECONDS must be a list of seconds, each 0 or more');
if (!Number.isInteger(expirySessions) || expirySessions < 0 || expirySessions > expiryGrants)
  throw new Error('BENCH_EXPIRY_SESSIONS must be a whole number from 0 to BENCH_EXPIRY_GRANTS');
if (!Number.isInteger(provisionGrants) || provisionGrants < 1 || provisionGrants > 10_000)
  throw new Error('BENCH_PROVISION_GRANTS must be a whole number from 1 to 10000');

const server = await benchServer();
// Interrupted: stop the throwaway cluster (a detached process) and remove its directory.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the benchmark database…`);
    void server.stop().finally(() => process.exit(130));
  });
}
try {
  console.log(`Machine: ${machine()}`);
  console.log(`PostgreSQL: ${await server.describe()}`);
  console.log(`Run: ${new Date().toISOString()}\n`);

  if (which === 'all' || which === 'append') {
    console.error(`append throughput, ${appendSeconds} s per mode, ${repeats} rounds…`);
    const results = await benchAppend(server, appendSeconds * 1000, repeats);
    console.log(`Medians of ${repeats} rounds of ${appendSeconds} s each.\n`);
    console.log(
      `| writers | plain INSERT/s | chained/s (end to end) | chained ÷ plain | naive lock-and-hash/s | naive ÷ plain |`,
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    const rate = (mode: string, writers: number) =>
      median(results.filter((r) => r.mode === mode && r.writers === writers).map((r) => r.perSecond));
    for (const writers of [1, 8, 32]) {
      const of = (mode: string) => rate(mode, writers);
      const plain = of('plain');
      console.log(
        `| ${writers} | ${fmt(plain)} | ${fmt(of('chained'))} | ${fmt(of('chained') / plain, 2)} | ${fmt(of('naive'))} | ${fmt(of('naive') / plain, 2)} |`,
      );
    }
    const ratio = rate('chained', 32) / rate('plain', 32);
    console.log(
      `\nTarget chained ≥ 0.50 × plain at 32 writers: ${ratio >= 0.5 ? 'met' : 'NOT met'} (${fmt(ratio, 2)}).\n`,
    );
  }

  if (which === 'all' || which === 'verify') {
    console.error(`verify ${verifyEvents} events, ${repeats} runs each…`);
    printVerify(await benchVerify(server, verifyEvents, repeats), verifyEvents, repeats);
  }

  if (which === 'all' || which === 'slack') {
    console.error(
      `slash-command acks at ${slackRate}/s for ${slackSeconds} s (after ${WARMUP_SECONDS} s warm-up), bare Bolt then Gatehouse, ${repeats} rounds…`,
    );
    printAck(await benchAck(server, slackSeconds, slackRate, repeats), slackRate, slackSeconds);
  }

  if (which === 'all' || which === 'slack' || which === 'expiry') {
    for (const spread of expirySpreads) {
      const results: ExpiryResults[] = [];
      for (const variant of expiryVariants) {
        console.error(
          `expiry lag of ${expiryGrants} \`${variant.provisioner}\` grants created ${spread > 0 ? `over ${spread} s` : 'as fast as possible'}, ${variant.timer ? 'expiry timer' : 'sweep tick only'}…`,
        );
        const result = await benchExpiry(server, {
          grants: expiryGrants,
          spreadSeconds: spread,
          variant,
          sessions: expirySessions,
        });
        printExpiry(result);
        results.push(result);
      }
      printExpiryComparison(results);
    }
  }

  if (which === 'all' || which === 'provision') {
    console.error(
      `Approve click to provisioned: ${provisionGrants} grants each of \`postgres\` and \`none\`, one at a time (after ${PROVISION_WARMUP_ROUNDS} warm-up rounds)…`,
    );
    printProvision(await benchProvision(server, provisionGrants));
  }

  if (which === 'all' || which === 'verify-ack') {
    console.error(
      `acks at ${slackRate}/s while /verify-audit checks ${verifyAckEvents} events: ${repeats} rounds of a ${verifyAckBaselineSeconds} s baseline and a verification, in the background thread and on the main thread (after ${VERIFY_ACK_WARMUP_SECONDS} s warm-up)…`,
    );
    printVerifyAck(
      await benchVerifyAck(server, {
        events: verifyAckEvents,
        rate: slackRate,
        baselineSeconds: verifyAckBaselineSeconds,
        rounds: repeats,
      }),
    );
  }

  if (which === 'all' || which === 'gateway') {
    console.error(
      `the database gateway: pgbench -S, direct and through it, -M ${gatewayOptions.modes.join(', ')}, ${gatewayOptions.seconds} s each; then ${gatewayOptions.sessions} sessions cut at their grants' end…`,
    );
    printGateway(await benchGateway(server, gatewayOptions));
  }

  if (which === 'all' || which === 'alerts') {
    const { throughput: t, latency: l } = alertsOptions;
    console.error(
      `the watcher: ${t.rate} events/s for ${t.seconds} s with and without it, a restart, a backlog of ${t.backlog}; then ${l.triggers} alerts timed to Slack at ${l.rates.join(' and ')} events/s (${alertsOptions.parts.join(', ')})…`,
    );
    printAlerts(await benchAlerts(server, alertsOptions));
  }

  if (which === 'all' || which === 'anchors') {
    const rates = (process.env.BENCH_ANCHORS_RATES ?? '20,80').split(',').map(Number);
    const seconds = Number(process.env.BENCH_ANCHORS_SECONDS ?? 40);
    console.error(`anchors outside the database: ${rates.join(' and ')} events/s, ${seconds} s each…`);
    printAnchors(await benchAnchors(server, rates, seconds));
  }

  if (which === 'busy') {
    const busy = parseBusySettings(process.env);
    console.error(
      `a busy day: ${busy.rate}/s commands for ${busy.seconds} s while ${busy.grants} grants expire, ${busy.approvals} approvals are clicked and /verify-audit checks ${busy.events} events; phases ${busy.phases.join(', ')}…`,
    );
    printBusy(await benchBusy(server, busy));
  }

  if (which === 'all' || which === 'merkle') {
    console.error(
      `the Merkle tree: appends at 32 writers with it, ${repeats} rounds of ${appendSeconds} s; then proofs in a log of ${merkleOptions.events} events…`,
    );
    printMerkle(await benchMerkle(server, merkleOptions));
  }

  if (which === 'siem') {
    const siemOptions = parseSiemOptions(process.env);
    console.error(
      `SIEM streaming: ${siemOptions.writers} writers for ${siemOptions.seconds} s while the chain is forwarded to ${siemOptions.destinations.join(' and ')} on loopback; then the log again from seq 0…`,
    );
    printSiem(await benchSiem(server, siemOptions), siemOptions);
  }

  if (which === 'receipts') {
    const receiptsOptions = parseReceiptsOptions(process.env);
    console.error(
      `receipts: two grants' receipts in a log of ${receiptsOptions.events} events, one with ${receiptsOptions.statements} statements…`,
    );
    printReceipts(await benchReceipts(server, receiptsOptions));
  }
} finally {
  await server.stop();
}
