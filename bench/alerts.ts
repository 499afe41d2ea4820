/**
 * The watcher's benchmark (issue 14): throughput of the stream with every detector on,
 * beside the sequencer's own, and event committed → alert posted on the real app. The
 * BENCH_ALERTS_* settings are listed in bench/run.ts. Results: docs/benchmarks.md §7.
 */
import { benchLatency, type LatencyOptions, type LatencyRun } from './alerts-latency.ts';
import { benchThroughput, type ThroughputOptions, type ThroughputResults } from './alerts-throughput.ts';
import type { BenchServer } from './cluster.ts';

export const ALERTS_PARTS = ['throughput', 'latency'] as const;
type Part = (typeof ALERTS_PARTS)[number];

export interface AlertsOptions {
  parts: Part[];
  throughput: ThroughputOptions;
  latency: LatencyOptions;
}

export interface AlertsResults {
  throughput: ThroughputResults | null;
  latency: LatencyRun[];
}

const whole = (env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number => {
  const value = Number(env[key] ?? fallback);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${key} must be a whole number from ${min} to ${max}`);
  return value;
};

/** The BENCH_ALERTS_* settings, checked. */
export function parseAlertsOptions(env: NodeJS.ProcessEnv): AlertsOptions {
  const parts = (env.BENCH_ALERTS_PARTS ?? ALERTS_PARTS.join(',')).split(',').map((part) => part.trim());
  for (const part of parts)
    if (!(ALERTS_PARTS as readonly string[]).includes(part))
      throw new Error(`BENCH_ALERTS_PARTS: unknown part "${part}"; choose from ${ALERTS_PARTS.join(', ')}`);
  const rates = (env.BENCH_ALERTS_LATENCY_RATES ?? '1000,5000').split(',').map(Number);
  if (!rates.every((rate) => Number.isInteger(rate) && rate >= 0 && rate <= 100_000))
    throw new Error('BENCH_ALERTS_LATENCY_RATES must be a list of events a second, each from 0 to 100000');
  return {
    parts: parts as Part[],
    throughput: {
      rate: whole(env, 'BENCH_ALERTS_RATE', 5000, 1, 100_000),
      seconds: whole(env, 'BENCH_ALERTS_SECONDS', 20, 1, 600),
      backlog: whole(env, 'BENCH_ALERTS_BACKLOG', 200_000, 1000, 10_000_000),
      batch: whole(env, 'BENCH_ALERTS_BATCH', 2000, 1, 100_000),
    },
    latency: {
      rates,
      triggers: whole(env, 'BENCH_ALERTS_TRIGGERS', 200, 2, 10_000),
      everyMs: whole(env, 'BENCH_ALERTS_TRIGGER_EVERY_MS', 250, 10, 60_000),
      warmupSeconds: 5,
      prelinked: whole(env, 'BENCH_ALERTS_PRELINKED', 0, 0, 1) === 1,
    },
  };
}

export async function benchAlerts(server: BenchServer, options: AlertsOptions): Promise<AlertsResults> {
  const throughput = options.parts.includes('throughput') ? await benchThroughput(server, options.throughput) : null;
  const latency = options.parts.includes('latency') ? await benchLatency(server, options.latency) : [];
  return { throughput, latency };
}
