import type { AlertInput } from '../access/alerts.ts';
import type { Policy } from '../config/policy.ts';
import type { Detector, Facts, WatchedEvent } from './detector.ts';
import { databaseDetector } from './detectors/database.ts';
import { offHoursDetector } from './detectors/off-hours.ts';
import { refusalsDetector } from './detectors/refusals.ts';
import { rubberStampsDetector } from './detectors/rubber-stamps.ts';
import { spreesDetector } from './detectors/sprees.ts';
import { stuckAccessDetector } from './detectors/stuck-access.ts';

/** A lookup that failed (the database, most likely): the round fails and is tried again, nothing skipped. */
class FactsUnavailable extends Error {
  constructor(readonly reason: unknown) {
    super('a detector could not look up what it needed');
  }
}

/** `facts` whose failures are told apart from a detector's own. */
function guarded(facts: Facts): Facts {
  return new Proxy(facts, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        Promise.resolve(value.apply(target, args)).catch((err: unknown) => {
          throw new FactsUnavailable(err);
        });
    },
  });
}

/** The detectors the policy turns on, each with fresh (empty) windows. */
export function detectorsFor(policy: Policy): Detector[] {
  const a = policy.alerts;
  const detectors: Detector[] = [];
  if (a.offHours) detectors.push(offHoursDetector());
  if (a.refusals) detectors.push(refusalsDetector(a.refusals));
  if (a.rubberStamps) detectors.push(rubberStampsDetector(a.rubberStamps));
  if (a.sprees) detectors.push(spreesDetector(a.sprees));
  if (a.stuckAccess) detectors.push(stuckAccessDetector(a.stuckAccess));
  if (a.database) detectors.push(databaseDetector(a.database));
  return detectors;
}

/**
 * The detectors of one policy over one run of the chain: each event goes to the detectors
 * that read its action, in seq order. Built afresh (and warmed by a replay) whenever the
 * watcher cannot be sure its memory is the chain's.
 */
export class WatchEngine {
  private readonly detectors: Detector[];
  private readonly byAction = new Map<string, Detector[]>();
  readonly lookbackMs: number;

  private readonly facts: Facts;

  constructor(
    readonly policy: Policy,
    facts: Facts,
    /** A detector that throws on an event is skipped for it, and said here: one bad event must not stop every alert. */
    private readonly failed: (err: unknown, detector: number, event: WatchedEvent) => void = (err) => {
      throw err;
    },
  ) {
    this.facts = guarded(facts);
    this.detectors = detectorsFor(policy);
    for (const detector of this.detectors)
      for (const action of detector.actions)
        this.byAction.set(action, [...(this.byAction.get(action) ?? []), detector]);
    this.lookbackMs = Math.max(0, ...this.detectors.map((d) => d.lookbackMs));
  }

  /** Actions some detector reads: a replay reads only these. */
  get actions(): string[] {
    return [...this.byAction.keys()];
  }

  /** Actions whose detector has windows to rebuild. */
  get replayedActions(): string[] {
    return [...new Set(this.detectors.filter((d) => d.lookbackMs > 0).flatMap((d) => d.actions))];
  }

  /** A replayed event, to rebuild windows: only detectors with windows see it, and what they find is dropped. */
  async replay(event: WatchedEvent): Promise<void> {
    await this.observe(event, true);
  }

  async observe(event: WatchedEvent, replaying = false): Promise<AlertInput[]> {
    let detectors = this.byAction.get(event.action);
    if (!detectors) return [];
    if (replaying) detectors = detectors.filter((d) => d.lookbackMs > 0);
    const found: AlertInput[] = [];
    for (const detector of detectors) {
      try {
        const result = detector.observe(event, { policy: this.policy, facts: this.facts });
        found.push(...(result instanceof Promise ? await result : result));
      } catch (err) {
        if (err instanceof FactsUnavailable) throw err.reason;
        this.failed(err, this.detectors.indexOf(detector), event);
      }
    }
    return found;
  }
}
