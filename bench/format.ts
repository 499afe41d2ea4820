/** Number formatting and small statistics shared by the benchmark reports. */

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Milliseconds, to a tenth. */
export const ms = (n: number): string => fmt(n, 1);

/** `{a: 1, b: 2}` as "a 1, b 2", sorted by key; "none" when empty. */
export const counts = (record: Record<string, number>): string =>
  Object.entries(record)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key} ${fmt(n)}`)
    .join(', ') || 'none';

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
