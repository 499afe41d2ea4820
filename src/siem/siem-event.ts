import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** One chained audit event as a SIEM receives it: its place and hashes, its fields, and its canonical text. */
export interface SiemEvent {
  seq: number;
  /** SHA-256 of prev_hash ‖ canonical, 64 lower-case hex digits (docs/audit-log.md §4). */
  hash: string;
  prevHash: string;
  /** The event's canonical text (RFC 8785), exactly as hashed: a receiver can check `hash` from it. */
  canonical: string;
  time: string;
  actor: string;
  action: string;
  subject: string | null;
  severity: SiemSeverity;
}

/** Events with seq in (after, after + limit], in seq order: the next batch for a destination. */
export async function readSiemEvents(db: Kysely<Database>, after: number, limit: number): Promise<SiemEvent[]> {
  const rows = await db
    .selectFrom('audit_events')
    .select(['seq', 'canonical', 'hash', 'prev_hash'])
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((row) => {
    const e = JSON.parse(row.canonical) as {
      time: string;
      actor: string;
      action: string;
      subject: string | null;
      body: Record<string, unknown>;
    };
    return {
      seq: Number(row.seq),
      hash: Buffer.from(row.hash).toString('hex'),
      prevHash: Buffer.from(row.prev_hash).toString('hex'),
      canonical: row.canonical,
      time: e.time,
      actor: e.actor,
      action: e.action,
      subject: e.subject ?? null,
      severity: severityOf(e.action, e.body),
    };
  });
}

export type SiemSeverity = 'info' | 'notice' | 'warning' | 'error' | 'critical';

/** An alert's own severity (docs/alerts.md) as the record's. */
const ALERT_SEVERITY: Record<string, SiemSeverity> = {
  info: 'notice',
  warning: 'warning',
  high: 'error',
  critical: 'critical',
};

/**
 * How much an operator should care about an event. An alert carries its own severity;
 * refusals and failures stand out from the everyday requests and grants; the set of
 * actions is open, so anything not recognised is `info` (docs/siem.md lists the rule).
 */
export function severityOf(action: string, body: Record<string, unknown> = {}): SiemSeverity {
  if (action === 'alert.raised') return ALERT_SEVERITY[String(body.severity)] ?? 'error';
  if (/fail|tamper|mismatch|invalid/.test(action)) return 'error';
  if (/refused|denied|rejected|blocked|unrecorded/.test(action)) return 'warning';
  if (/approved|revoked|active|extended|loaded|verified/.test(action)) return 'notice';
  return 'info';
}
