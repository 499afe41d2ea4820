/**
 * What a detector is: it reads events of the chain in seq order and says when they make an
 * incident. Its memory (the windows) is only ever built from the chain: the watcher replays
 * the events within `lookbackMs` before its cursor whenever it (re)starts or another replica
 * watched meanwhile, with the findings of the replay thrown away. Windows are measured in
 * event time (the chain's `time`), never the wall clock, so a replay finds what the first
 * pass found. Long windows (days) are not replayed: a detector asks `Facts` for them, which
 * reads the tables the same transactions wrote.
 */
import type { AlertInput } from '../access/alerts.ts';
import { resourceById, type Policy } from '../config/policy.ts';
import type { GrantStatus } from '../db/schema.ts';

export interface WatchedEvent {
  seq: number;
  time: Date;
  actor: string;
  action: string;
  subject: string | null;
  body: Record<string, unknown>;
}

export interface GrantFacts {
  userId: string;
  resourceId: string;
  status: GrantStatus;
  endsAt: Date;
  /** When it stopped giving access (revoked), if it has. */
  endedAt: Date | null;
}

/** What detectors may look up beyond their windows; read from the database. */
export interface Facts {
  grant(grantId: string): Promise<GrantFacts | null>;
  /** The grant a request gave, once approved. */
  grantOfRequest(requestId: string): Promise<string | null>;
  /** Approvals of a resource's requests given in [since, until], by approver. */
  approvalsBy(resourceId: string, since: Date, until: Date): Promise<Map<string, number>>;
  /** A person's requests made in [since, until]. */
  requestsOf(userId: string, since: Date, until: Date): Promise<{ resourceId: string; durationMs: number }[]>;
  /** Statements recorded in a session's first minute, and when it started; null for a session unknown. */
  sessionStart(sessionId: string): Promise<{ startedAt: Date; firstMinute: number } | null>;
}

export interface DetectContext {
  policy: Policy;
  facts: Facts;
}

export interface Detector {
  /** The actions it reads; the others never reach it. */
  readonly actions: readonly string[];
  /** How far back its windows reach: what a restart replays for it. */
  readonly lookbackMs: number;
  observe(event: WatchedEvent, ctx: DetectContext): AlertInput[] | Promise<AlertInput[]>;
}

export const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
export const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);

/** "5 minutes", "1 hour", "30 seconds": a window in words. */
export function spoken(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, unit] of units)
    if (ms % size === 0 && ms >= size) return `${ms / size} ${unit}${ms / size === 1 ? '' : 's'}`;
  return `${Math.round(ms / 1000)} seconds`;
}

export function resourceNameOf(policy: Policy, id: string | null): string {
  if (id === null) return 'an unknown resource';
  return resourceById(policy, id)?.name ?? id;
}
