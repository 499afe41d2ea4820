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
  }

  /** Actions some detector reads. */
  get actions(): string[] {
    return [...this.byAction.keys()];
  }

  /**
   * What a rebuild replays: for each detector with windows, how far back it looks and the
   * actions it reads, so a detector looking back a minute is not fed an hour of statements.
   */
  get replays(): { detector: number; lookbackMs: number; actions: readonly string[] }[] {
    return this.detectors.flatMap((d, detector) =>
      d.lookbackMs > 0 ? [{ detector, lookbackMs: d.lookbackMs, actions: d.actions }] : [],
    );
  }

  /** A replayed event, to rebuild one detector's windows: what it finds was raised (or not) the first time, and is only remembered as raised. */
  async replay(detector: number, event: WatchedEvent): Promise<void> {
    for (const found of await this.run([this.detectors[detector]!], event)) this.remember(found.incidentKey);
  }

  /** What the detectors find in `event`, less the incidents this engine has already raised. */
  async observe(event: WatchedEvent): Promise<AlertInput[]> {
    const detectors = this.byAction.get(event.action);
    if (!detectors) return [];
    const found = (await this.run(detectors, event)).filter((f) => !this.raised.has(f.incidentKey));
    for (const f of found) this.remember(f.incidentKey);
    return found;
  }

  /**
   * Incidents raised, remembered so that one found again and again (every statement of a
   * session at night) costs no round trip; the alerts table's unique key is what makes an
   * incident once, this only spares it the work.
   */
  private readonly raised = new Set<string>();

  private remember(key: string): void {
    if (this.raised.size >= 50_000) this.raised.clear();
    this.raised.add(key);
  }

  private async run(detectors: readonly Detector[], event: WatchedEvent): Promise<AlertInput[]> {
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
