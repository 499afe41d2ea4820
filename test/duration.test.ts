import { describe, it, expect } from 'vitest';
import { formatDuration, parseDuration } from '../src/config/duration.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('parseDuration', () => {
  it.each([
    ['30s', 30 * SECOND],
    ['30m', 30 * MINUTE],
    ['4h', 4 * HOUR],
    ['1d', DAY],
    ['1h30m', HOUR + 30 * MINUTE],
    ['2d12h', 2 * DAY + 12 * HOUR],
    ['1d2h3m4s', DAY + 2 * HOUR + 3 * MINUTE + 4 * SECOND],
    ['90m', 90 * MINUTE],
    ['0h30m', 30 * MINUTE],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['90 minutes'],
    [''],
    ['4'],
    ['h'],
    ['1.5h'],
    ['-1h'],
    ['1h 30m'],
    ['30m1h'],
    ['1h1h'],
    ['4H'],
    [' 4h'],
    ['1w'],
  ])('refuses %j and says what is allowed', (text) => {
    expect(() => parseDuration(text)).toThrow(
      `${JSON.stringify(text)} is not a duration: use a number and a unit, like 30m, 4h, 1h30m or 2d`,
    );
  });

  it('refuses zero', () => {
    expect(() => parseDuration('0m')).toThrow('"0m" is not a duration: it must be longer than zero');
    expect(() => parseDuration('0d0h0m0s')).toThrow('longer than zero');
  });

  it('refuses numbers too large to be exact', () => {
    expect(() => parseDuration('99999999999999999999d')).toThrow('is too long to be a duration');
  });
});

describe('formatDuration', () => {
  it.each([
    [30 * SECOND, '30s'],
    [30 * MINUTE, '30m'],
    [4 * HOUR, '4h'],
    [DAY, '1d'],
    [5_400_000, '1h30m'],
    [2 * DAY + 12 * HOUR, '2d12h'],
    [DAY + 2 * HOUR + 3 * MINUTE + 4 * SECOND, '1d2h3m4s'],
    [36 * HOUR, '1d12h'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('drops sub-second remainders, so it can show time left', () => {
    expect(formatDuration(90 * SECOND + 999)).toBe('1m30s');
    expect(formatDuration(999)).toBe('0s');
    expect(formatDuration(0)).toBe('0s');
  });

  it('refuses negative and non-finite input', () => {
    expect(() => formatDuration(-1)).toThrow(RangeError);
    expect(() => formatDuration(Number.NaN)).toThrow(RangeError);
    expect(() => formatDuration(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('is the inverse of parseDuration in compact form', () => {
    for (const text of ['30s', '4h', '1h30m', '2d12h', '1d2h3m4s']) {
      expect(formatDuration(parseDuration(text))).toBe(text);
    }
    expect(formatDuration(parseDuration('90m'))).toBe('1h30m');
  });
});
