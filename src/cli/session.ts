import type pg from 'pg';
import type { AuditAction } from '../audit/actions.ts';
import { ChainChecker } from '../audit/checker.ts';
import type { Anchor } from '../audit/checkpoints/anchors.ts';
import { judgeCheckpoints, unsignedResult, type AnchoredVerifyResult } from '../audit/checkpoints/checks.ts';
import type { CheckpointPublicKey } from '../audit/checkpoints/keys.ts';
import { listCheckpoints, readLogId } from '../audit/checkpoints/store.ts';
import type { AuditEvent } from '../audit/event.ts';
import { verifyChain } from '../audit/verify.ts';
import { formatAnchoredReport } from './output.ts';
import { formatSessionReport, refusalText, unknownSessionText } from './session-report.ts';

/** The actions whose subject is a gateway session: what `audit session` shows. */
export const SESSION_ACTIONS = [
  'gateway.session_started',
  'gateway.statement',
  'gateway.statement_done',
  'gateway.statement_refused',
  'gateway.end_requested',
  'gateway.session_ended',
] as const satisfies readonly AuditAction[];

const SESSION_ACTION_SET: ReadonlySet<string> = new Set(SESSION_ACTIONS);

/** One of the session's events, as verified: the hashed text and what it says. */
export interface SessionEvent {
  /** The event's canonical text, byte for byte what was hashed. */
  canonical: string;
  event: AuditEvent;
}

export interface VerifiedSession {
  verification: AnchoredVerifyResult;
  /** The session's events in seq order; only meaningful when `verification.ok`. */
  events: SessionEvent[];
}

/**
 * A chain checker that also keeps the events of one session, each taken only once its
 * hash has been recomputed and its link checked: what is shown is what was verified, from
 * the same read, not a second query that could see other rows.
 */
class SessionCollector extends ChainChecker {
  readonly events: SessionEvent[] = [];
  /** How the subject appears in canonical text; a cheap test before parsing an event. */
  private readonly marker: Buffer;

  constructor(
    private readonly sessionId: string,
    watch: Iterable<number> = [],
  ) {
    super(watch);
    this.marker = Buffer.from(`"subject":${JSON.stringify(sessionId)}`);
  }

  override check(seq: number, hashInput: Buffer, hash: string, line?: number): boolean {
    if (!super.check(seq, hashInput, hash, line)) return false;
    // The first 32 bytes are prev_hash; the canonical text follows.
    if (hashInput.indexOf(this.marker, 32) !== -1) {
      const canonical = hashInput.toString('utf8', 32);
      const event = JSON.parse(canonical) as AuditEvent;
      if (event.subject === this.sessionId && SESSION_ACTION_SET.has(event.action)) {
        this.events.push({ canonical, event });
      }
    }
    return true;
  }
}

export interface SessionReadOptions {
  publicKey: CheckpointPublicKey | null;
  anchors: Anchor[];
  onProgress?: (read: number) => void;
}

/**
 * Verifies the log as `audit verify` does (verifyAnchored: the chain, then the checkpoints
 * and anchors when a key is given) and keeps the session's events from the same pass.
 */
export async function readVerifiedSession(
  pool: pg.Pool,
  sessionId: string,
  options: SessionReadOptions,
): Promise<VerifiedSession> {
  const { publicKey: key, anchors, onProgress } = options;
  if (!key) {
    const collector = new SessionCollector(sessionId);
    const chain = await verifyChain(pool, { checker: collector, onProgress });
    return { verification: unsignedResult(chain, anchors), events: collector.events };
  }
  // Checkpoints are read before the events, so every one of them is in the chain's snapshot.
  const logId = await readLogId(pool);
  const stored = await listCheckpoints(pool);
  const watch = [...stored, ...anchors.map((a) => a.checkpoint)].map((cp) => cp.seq);
  const collector = new SessionCollector(sessionId, watch);
  const chain = await verifyChain(pool, { checker: collector, onProgress });
  const verification = judgeCheckpoints({
    chain,
    hashAt: (seq) => collector.hashAt(seq),
    key,
    logId,
    stored,
    anchors,
  });
  return { verification, events: collector.events };
}

/**
 * Prints a verified session for `gatehouse audit session`, or why not; returns the exit
 * code: 0 shown, 1 the log is not whole or holds no such session. With `json`, stdout holds
 * the session's events only, one a line, and everything else goes to stderr.
 */
export function printSession(sessionId: string, session: VerifiedSession, notes: string[], json: boolean): number {
  const { verification, events } = session;
  const say = json ? console.error : console.log;
  say(formatAnchoredReport(verification, 'The audit log'));
  for (const note of notes) say(`  note: ${note}`);
  if (!verification.ok) {
    console.error(refusalText(sessionId, verification));
    return 1;
  }
  if (events.length === 0) {
    console.error(unknownSessionText(sessionId, verification.checked));
    return 1;
  }
  if (json) {
    for (const { canonical } of events) console.log(canonical);
  } else {
    console.log(`\n${formatSessionReport(sessionId, events)}`);
  }
  return 0;
}
