import type { Anchor } from '../audit/checkpoints/anchors.ts';
import type { AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { Config } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { Registry } from 'prom-client';

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

/** What a verification checks with, in a form that crosses threads (a key as its raw hex). */
export interface VerifyRequest {
  publicKeyHex: string | null;
  anchors: Anchor[];
}

/**
 * `nudge`: the main thread committed events; `chained`: it chained some itself (a flush);
 * `verify`: recompute the chain for /verify-audit here, off the thread that acks Slack.
 */
export type ToBackground =
  | { type: 'nudge' }
  | { type: 'chained' }
  | { type: 'stop' }
  | ({ type: 'verify'; id: number } & VerifyRequest)
  /** This thread's metrics, for a scrape of GET /metrics in the main thread. */
  | { type: 'metrics'; id: number };

export type FromBackground =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'log'; line: string }
  | { type: 'stopped'; error?: string }
  | { type: 'verified'; id: number; result?: AnchoredVerifyResult; error?: string }
  | { type: 'metrics'; id: number; metrics: MetricsJson };

/** prom-client's JSON form of a registry, which crosses threads. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
