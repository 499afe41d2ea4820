/**
 * What Gatehouse counts and times in this thread, for `GET /metrics` (Prometheus text
 * format, prom-client). Each thread has its own registry: the background thread's is sent
 * to the main thread on request and merged with the main thread's (src/metrics/endpoint.ts),
 * and the state both share (queues, lags, live grants) is read from the database at the
 * scrape (src/metrics/state.ts). Names start `gatehouse_`; docs/metrics.md lists them.
 */
import client from 'prom-client';
import type { Provisioner } from '../access/ports.ts';

export const registry = new client.Registry();

/** Slack's requests over HTTP, from arrival to the ack's last byte (Slack gives up after 3 s). */
export const ackSeconds = new client.Histogram({
  name: 'gatehouse_slack_ack_seconds',
  help: 'Time from a Slack request arriving (HTTP mode) to its acknowledgement being sent',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3],
  registers: [registry],
});

/** Each sweep's run, by job (end-due-grants, retry-grants …), and whether it failed. */
export const sweepSeconds = new client.Histogram({
  name: 'gatehouse_sweep_duration_seconds',
  help: 'Duration of one run of a sweep, by job and outcome',
  labelNames: ['job', 'outcome'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
});

/** How many events each sequencer batch chained: large batches mean the chain is catching up. */
export const sequencerBatch = new client.Histogram({
  name: 'gatehouse_sequencer_batch_events',
  help: 'Audit events chained per sequencer batch',
  buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000],
  registers: [registry],
});

/** Calls to provisioners, by kind, operation and outcome: a target failing shows here first. */
export const provisionerCalls = new client.Counter({
  name: 'gatehouse_provisioner_calls_total',
  help: 'Provisioner calls by provisioner kind, operation (grant, revoke, extend) and outcome (ok, error)',
  labelNames: ['kind', 'operation', 'outcome'] as const,
  registers: [registry],
});

export const provisionerSeconds = new client.Histogram({
  name: 'gatehouse_provisioner_call_seconds',
  help: 'Duration of provisioner calls by kind and operation',
  labelNames: ['kind', 'operation'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** Statements through the gateway on this replica: run after being recorded, refused, or refused because the record failed. */
export const gatewayStatements = new client.Counter({
  name: 'gatehouse_gateway_statements_total',
  help: 'Statements through the database gateway, by resource and outcome (recorded, refused, unrecorded)',
  labelNames: ['resource', 'outcome'] as const,
  registers: [registry],
});

/** Audit events a SIEM destination accepted, sent from this replica (src/siem). */
export const siemEvents = new client.Counter({
  name: 'gatehouse_siem_events_total',
  help: 'Audit events accepted by a SIEM destination (otlp, syslog), sent from this replica',
  labelNames: ['destination'] as const,
  registers: [registry],
});

/** Batches a SIEM destination did not accept (down, refused, timed out): each is sent again. */
export const siemFailures = new client.Counter({
  name: 'gatehouse_siem_failures_total',
  help: 'Batches of audit events a SIEM destination did not accept; each is sent again with backoff',
  labelNames: ['destination'] as const,
  registers: [registry],
});

/**
 * Labels this thread's series (thread="main" or "background"); the main thread also collects
 * Node's own process metrics (memory, CPU, event loop lag), once for the process.
 */
export function startThreadMetrics(thread: 'main' | 'background'): void {
  registry.setDefaultLabels({ thread });
  // Once per thread: several Gatehouses in one process (tests) share the registry.
  if (thread === 'main' && !processMetricsOn) {
    processMetricsOn = true;
    client.collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  }
}
let processMetricsOn = false;

/** A provisioner whose calls are counted and timed; what it does is unchanged, errors included. */
export function instrumentProvisioner(kind: string, provisioner: Provisioner): Provisioner {
  const timed =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const end = provisionerSeconds.startTimer({ kind, operation });
      try {
        const result = await call(...args);
        provisionerCalls.inc({ kind, operation, outcome: 'ok' });
        return result;
      } catch (err) {
        provisionerCalls.inc({ kind, operation, outcome: 'error' });
        throw err;
      } finally {
        end();
      }
    };
  const wrapped: Provisioner = {
    ...provisioner,
    grant: timed('grant', provisioner.grant.bind(provisioner)),
    revoke: timed('revoke', provisioner.revoke.bind(provisioner)),
  };
  if (provisioner.extend) wrapped.extend = timed('extend', provisioner.extend.bind(provisioner));
  if (provisioner.inPlace) wrapped.inPlace = timed('in_place', provisioner.inPlace.bind(provisioner));
  if (provisioner.holders) wrapped.holders = timed('holders', provisioner.holders.bind(provisioner));
  return wrapped;
}
