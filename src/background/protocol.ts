import type { Config } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';

/** What the background thread is started with (structured-cloned). */
export interface BackgroundData {
  /** The worker module to load once tsx is registered. */
  entry: string;
  config: Config;
  policy: LoadedPolicy;
  /** The database the main thread connected to (the embedded one, if it started it). */
  databaseUrl: string;
  poolSize: number;
  logLevel: string;
}

/** `nudge`: the main thread committed events; `chained`: it chained some itself (a flush). */
export type ToBackground = { type: 'nudge' } | { type: 'chained' } | { type: 'stop' };

export type FromBackground =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'log'; line: string }
  | { type: 'stopped'; error?: string };
