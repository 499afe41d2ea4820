/**
 * The fault schedule of a chaos run, from its settings: `kill -9` of a replica (started
 * again after a few seconds) every CHAOS_KILL_EVERY from half that in, a PostgreSQL
 * restart (immediate, then fast, in turn) every CHAOS_PG_RESTART_EVERY from three
 * quarters of that in, and one Slack outage. Faults due after the load are not run.
 */
import type { Replica } from './replicas.ts';
import type { ChaosSettings } from './settings.ts';

export interface FaultLog {
  /** Seconds since the load started. */
  at: number;
  what: string;
  outcome: string;
}

export interface FaultActions {
  killReplica(i: number): Promise<Replica>;
  restartReplica(replica: Replica): Promise<number>;
  restartPostgres(mode: 'immediate' | 'fast'): Promise<void>;
  /** Resolves when the outage is over, with how many calls were failed. */
  slackFault(ms: number): Promise<number>;
  log(line: string): void;
}

interface Planned {
  at: number;
  run(): Promise<{ what: string; outcome: string }>;
}

export function plan(s: ChaosSettings, actions: FaultActions): Planned[] {
  const planned: Planned[] = [];
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  if (s.killEvery > 0)
    for (let at = s.killEvery / 2, i = 0; at < s.seconds; at += s.killEvery, i++) {
      const n = i;
      planned.push({
        at,
        async run() {
          const replica = await actions.killReplica(n);
          await new Promise((resolve) => setTimeout(resolve, s.killDown * 1000));
          const t = Date.now();
          const failedStarts = await actions.restartReplica(replica);
          return {
            what: `kill -9 ${replica.name}`,
            outcome: `down ${s.killDown} s, ready again ${seconds(Date.now() - t)} after its restart${failedStarts ? ` (${failedStarts} start(s) failed first and were started again)` : ''}`,
          };
        },
      });
    }
  if (s.pgRestartEvery > 0)
    for (let at = (s.pgRestartEvery * 3) / 4, i = 0; at < s.seconds; at += s.pgRestartEvery, i++) {
      const mode = i % 2 === 0 ? 'immediate' : 'fast';
      planned.push({
        at,
        async run() {
          const t = Date.now();
          await actions.restartPostgres(mode);
          return {
            what: `PostgreSQL pg_ctl restart -m ${mode}`,
            outcome: `accepting connections again after ${seconds(Date.now() - t)}`,
          };
        },
      });
    }
  if (s.slackFaultSeconds > 0 && s.slackFaultAt < s.seconds)
    planned.push({
      at: s.slackFaultAt,
      async run() {
        const failed = await actions.slackFault(s.slackFaultSeconds * 1000);
        return {
          what: `Slack answers every Web API call 429 (Retry-After 2) or 500 for ${s.slackFaultSeconds} s`,
          outcome: `${failed} calls failed`,
        };
      },
    });
  return planned.sort((a, b) => a.at - b.at);
}

/** Runs each planned fault at its time (faults may overlap); resolves when all are over. */
export async function runFaults(s: ChaosSettings, started: number, actions: FaultActions): Promise<FaultLog[]> {
  const logs: FaultLog[] = [];
  await Promise.all(
    plan(s, actions).map(async (fault) => {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + fault.at * 1000 - Date.now())));
      const at = (Date.now() - started) / 1000;
      try {
        const { what, outcome } = await fault.run();
        logs.push({ at, what, outcome });
        actions.log(`fault at ${at.toFixed(0)} s: ${what}: ${outcome}`);
      } catch (err) {
        logs.push({ at, what: 'fault', outcome: `failed: ${(err as Error).message}` });
        actions.log(`fault at ${at.toFixed(0)} s failed: ${(err as Error).message}`);
      }
    }),
  );
  return logs.sort((a, b) => a.at - b.at);
}
