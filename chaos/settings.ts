/**
 * The chaos run's knobs, from the environment. Every fault's schedule scales with
 * CHAOS_SECONDS unless set: for the default 10 minutes, a replica is killed every 2
 * minutes, PostgreSQL restarts every 200 s, and Slack fails for a minute at 40 %.
 */
export interface ChaosSettings {
  /** CHAOS_SECONDS: how long the load runs (default 600). */
  seconds: number;
  /** CHAOS_REPLICAS (default 3). */
  replicas: number;
  /** CHAOS_CONTRACTORS: people asking, one story at a time each (default 12). */
  contractors: number;
  /** CHAOS_MFA_USERS: of those, enrolled in MFA and asking for the MFA resource too (default 2). */
  mfaUsers: number;
  /** The last seconds of the load ask for 1-minute grants only, without extensions, so everything ends soon after. */
  quietTailSeconds: number;
  /** CHAOS_KILL_EVERY: seconds between `kill -9`s of a replica (0: none). */
  killEvery: number;
  /** CHAOS_KILL_DOWN: seconds a killed replica stays down before it is started again (default 5). */
  killDown: number;
  /** CHAOS_PG_RESTART_EVERY: seconds between PostgreSQL restarts (0: none); immediate and fast in turn. */
  pgRestartEvery: number;
  /** CHAOS_SLACK_FAULT_AT / CHAOS_SLACK_FAULT_SECONDS: when Slack starts failing every call, and for how long (0: never). */
  slackFaultAt: number;
  slackFaultSeconds: number;
  /** CHAOS_SETTLE_SECONDS: the bound on waiting, after the load, for grants to end and queues to drain (default 420). */
  settleSeconds: number;
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name}=${text}: give a number of seconds (or a count), 0 or more`);
  return value;
}

export function chaosSettings(env: NodeJS.ProcessEnv): ChaosSettings {
  const seconds = number(env, 'CHAOS_SECONDS', 600);
  return {
    seconds,
    replicas: number(env, 'CHAOS_REPLICAS', 3),
    contractors: number(env, 'CHAOS_CONTRACTORS', 12),
    mfaUsers: number(env, 'CHAOS_MFA_USERS', 2),
    quietTailSeconds: Math.min(180, Math.round(seconds * 0.3)),
    killEvery: number(env, 'CHAOS_KILL_EVERY', Math.max(20, Math.round(seconds / 5))),
    killDown: number(env, 'CHAOS_KILL_DOWN', 5),
    pgRestartEvery: number(env, 'CHAOS_PG_RESTART_EVERY', Math.max(30, Math.round(seconds / 3))),
    slackFaultAt: number(env, 'CHAOS_SLACK_FAULT_AT', Math.round(seconds * 0.4)),
    slackFaultSeconds: number(env, 'CHAOS_SLACK_FAULT_SECONDS', Math.min(60, Math.round(seconds / 6))),
    settleSeconds: number(env, 'CHAOS_SETTLE_SECONDS', 420),
  };
}
