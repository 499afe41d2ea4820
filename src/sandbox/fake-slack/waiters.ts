export interface WaitOptions {
  /** Resolve on the count-th match (1 by default); earlier matches count too. */
  count?: number;
  /**
   * Reject after this long with a list of what did arrive, which says far more than a test
   * timeout would. Not a sleep: matches resolve the moment they are recorded.
   */
  timeoutMs?: number;
}

interface Waiter {
  check(): boolean;
  fail(reason: Error): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Promises over a growing list of records. Each new record re-checks the waiters, so a
 * wait resolves as soon as its match exists, whether it came before or after the call.
 */
export class Waitlist<T> {
  private readonly waiters = new Set<Waiter>();

  /** `records()` is read on every check, so a list that is replaced (reset) still works. */
  constructor(
    private readonly records: () => readonly T[],
    private readonly summarize: (record: T) => string,
  ) {}

  wait(what: string, match: (record: T) => boolean, options: WaitOptions = {}): Promise<T> {
    const count = options.count ?? 1;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const seen = this.records().map(this.summarize);
        const list = seen.length > 0 ? seen.join('\n  ') : '(nothing)';
        waiter.fail(new Error(`No ${what} (match #${count}) within ${timeoutMs} ms. Recorded so far:\n  ${list}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const found = this.records().filter(match)[count - 1];
          if (found === undefined) return false;
          this.waiters.delete(waiter);
          clearTimeout(timer);
          resolve(found);
          return true;
        },
        fail: (reason) => {
          this.waiters.delete(waiter);
          clearTimeout(timer);
          reject(reason);
        },
      };
      if (!waiter.check()) this.waiters.add(waiter);
    });
  }

  /** Call after every new record. */
  notify(): void {
    for (const waiter of [...this.waiters]) waiter.check();
  }

  rejectAll(reason: string): void {
    for (const waiter of [...this.waiters]) waiter.fail(new Error(reason));
  }
}
