/** One pgbench run (Debian's, select-only) and what its output and per-transaction log say. */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { connectArgs, pgEnv, type Endpoint } from './gateway-world.ts';
import { summarize, type Summary } from './percentiles.ts';

/** pgbench's -M: one Query message, unnamed Parse/Bind/Execute, or statements prepared once. */
export const PGBENCH_MODES = ['simple', 'extended', 'prepared'] as const;
export type PgbenchMode = (typeof PGBENCH_MODES)[number];

export interface PgbenchRun {
  ok: boolean;
  /** pgbench's own words when it failed (exit code, stderr), for the report. */
  failure: string | null;
  transactions: number;
  failed: number;
  /** Transactions per second, without the initial connection time (pgbench's figure). */
  tps: number;
  connectMs: number;
  /** Each transaction's latency from pgbench's --log, ms. Select-only: one statement each. */
  latency: Summary;
}

const numberAfter = (text: string, pattern: RegExp) => {
  const found = pattern.exec(text);
  return found ? Number(found[1]) : Number.NaN;
};

/**
 * `pgbench -S -n -T seconds -c clients -j (1 or 2) -M mode --log`, logs under `logDir`.
 * Resolves also when pgbench fails, with what it said.
 */
export async function pgbench(
  binary: string,
  endpoint: Endpoint,
  options: { seconds: number; clients: number; mode: PgbenchMode; logDir: string; name: string },
): Promise<PgbenchRun> {
  const prefix = path.join(options.logDir, options.name);
  const args = [
    '-S',
    '-n',
    '-T',
    String(options.seconds),
    '-c',
    String(options.clients),
    '-j',
    String(Math.min(2, options.clients)),
    '-M',
    options.mode,
    '--log',
    `--log-prefix=${prefix}`,
    ...connectArgs(endpoint),
    endpoint.database,
  ];
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(binary, args, { env: pgEnv(endpoint), maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: out, stderr: errOut }),
    );
  });
  const latencies: number[] = [];
  for (const file of await fs.readdir(options.logDir)) {
    if (!file.startsWith(`${options.name}.`)) continue;
    for (const line of (await fs.readFile(path.join(options.logDir, file), 'utf8')).split('\n')) {
      // client_id transaction_no time script_no time_epoch time_us: `time` is the latency in µs.
      const micros = Number(line.split(' ')[2]);
      if (line && Number.isFinite(micros)) latencies.push(micros / 1000);
    }
  }
  const failed = numberAfter(stdout, /number of failed transactions: (\d+)/);
  return {
    ok: code === 0,
    failure: code === 0 ? null : `exit ${code}: ${(stderr || stdout).trim().split('\n').slice(-6).join(' / ')}`,
    transactions: numberAfter(stdout, /number of transactions actually processed: (\d+)/) || 0,
    failed: Number.isNaN(failed) ? 0 : failed,
    tps: numberAfter(stdout, /tps = ([\d.]+) \(without initial connection time\)/),
    connectMs: numberAfter(stdout, /initial connection time = ([\d.]+) ms/),
    latency: summarize(latencies),
  };
}
