import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pump } from '../src/outbox/pump.ts';

/** The pump's timing under a clock the test moves: rounds are counted, not timed. */
describe('Pump', () => {
  beforeEach(() => vi.useFakeTimers({ now: new Date('2026-12-04T10:00:00Z') }));
  afterEach(() => vi.useRealTimers());

  function pumpWith(results: (() => number)[], failedDelayMs = 5000) {
    const cue = new EventEmitter();
    const rounds: number[] = [];
    const pump = new Pump({
      round: () => {
        rounds.push(Date.now());
        const next = results.shift() ?? (() => 0);
        return Promise.resolve().then(next);
      },
      failed: () => failedDelayMs,
      cue,
      now: () => new Date(),
      pollMs: 60_000,
    });
    return { cue, rounds, pump };
  }

  it("keeps a failed round's delay (Slack's Retry-After) however often new events wake it", async () => {
    const { cue, rounds, pump } = pumpWith([
      () => {
        throw Object.assign(new Error('ratelimited'), { retryAfter: 5 });
      },
      () => 1,
    ]);
    pump.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds).toHaveLength(1);
    // Events keep being chained during the wait: none of them starts a round early.
    for (let i = 0; i < 4; i++) {
      cue.emit('chained');
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(rounds).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(rounds).toHaveLength(2);
    expect(rounds[1]! - rounds[0]!).toBe(5000);
    // After a round that worked, a wake starts the next one at once again.
    await vi.advanceTimersByTimeAsync(0);
    const before = rounds.length;
    cue.emit('chained');
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds.length).toBe(before + 1);
    await pump.stop();
  });

  it('starts a round at once when woken after one that found nothing', async () => {
    const { cue, rounds, pump } = pumpWith([() => 0]);
    pump.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds).toHaveLength(1);
    cue.emit('chained');
    await vi.advanceTimersByTimeAsync(0);
    expect(rounds).toHaveLength(2);
    await pump.stop();
  });
});
