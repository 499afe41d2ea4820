/**
 * The policy's `contracts:` section: when each contractor's contract ends, per person or
 * per group. No grant runs past it, and after it every request is refused
 * (src/access/contracts.ts). A date is the contract's last day: access ends at the start of
 * the next day, UTC. An exact time with its offset ends it then.
 */
import { z } from 'zod';
import type { SlackUserId } from '../db/ids.ts';
import { describe, isRecord, USER_ID } from './policy-schema.ts';

export interface ContractEnd {
  /** The first instant the person may no longer hold access. */
  endsAt: Date;
  /** As the policy wrote it (`2027-03-31`), for messages. */
  written: string;
  /** The entry it came from: the person's own id or a group's name. */
  from: string;
}

const GROUP_NAME = /^[a-z][a-z0-9_-]*$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;
const HINT =
  "write the contract's last day as YYYY-MM-DD, like 2027-03-31 (access ends when that day ends, UTC), or an exact time with its offset, like 2027-03-31T18:00:00+01:00";

/** When access ends for a contract end as written; null when it is not a real date or time. */
export function contractEndsAt(text: string): Date | null {
  const day = DATE.exec(text);
  if (day) {
    const [year, month, date] = [Number(day[1]), Number(day[2]), Number(day[3])];
    const start = new Date(Date.UTC(year, month - 1, date));
    // 2027-02-30 would roll over to March: not a date anyone meant.
    if (start.getUTCFullYear() !== year || start.getUTCMonth() !== month - 1 || start.getUTCDate() !== date)
      return null;
    return new Date(start.getTime() + DAY_MS);
  }
  if (!DATE_TIME.test(text)) return null;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at;
}

export const ContractsSchema = z.record(
  z.string().refine((key) => USER_ID.test(key) || GROUP_NAME.test(key)),
  z
    .string({ error: (issue) => `${describe(issue.input)} is not a contract end: ${HINT}` })
    .refine((text) => contractEndsAt(text) !== null, {
      error: (issue) => `${describe(issue.input)} is not a contract end: ${HINT}`,
    }),
  {
    error: (issue) =>
      issue.code === 'invalid_key'
        ? `${describe(issue.input)} is neither a Slack user id nor a group name: use ids like U01AB2CD3 or group names like contractors-acme`
        : isRecord(issue.input)
          ? `is not valid: ${HINT}`
          : `${describe(issue.input)} is not a set of contracts: map each person or group to their contract's last day, like { U01AB2CD3: 2027-03-31, contractors-acme: 2027-01-15 }`,
  },
);

export type ContractsFields = z.output<typeof ContractsSchema>;

/** Each group named must be defined. */
export function checkContracts(
  contracts: ContractsFields | undefined,
  groups: ReadonlyMap<string, readonly SlackUserId[]>,
): { path: PropertyKey[]; message: string }[] {
  const defined = [...groups.keys()].join(', ') || 'none';
  return Object.keys(contracts ?? {})
    .filter((key) => !USER_ID.test(key) && !groups.has(key))
    .map((key) => ({
      path: ['contracts', key],
      message: `${JSON.stringify(key)} is not a defined group (defined groups: ${defined}): add it under groups or use a Slack user id`,
    }));
}

/**
 * Each person's contract end: their own entry wins (a contract extended for one person of
 * a group); otherwise the earliest of their groups' entries.
 */
export function toContracts(
  contracts: ContractsFields | undefined,
  groups: ReadonlyMap<string, readonly SlackUserId[]>,
): ReadonlyMap<SlackUserId, ContractEnd> {
  const ends = new Map<SlackUserId, ContractEnd>();
  const own = new Set<string>();
  for (const [key, written] of Object.entries(contracts ?? {})) {
    const endsAt = contractEndsAt(written)!;
    const personal = USER_ID.test(key);
    for (const person of personal ? [key as SlackUserId] : (groups.get(key) ?? [])) {
      if (own.has(person)) continue;
      const known = ends.get(person);
      if (personal || !known || endsAt < known.endsAt) ends.set(person, { endsAt, written, from: key });
      if (personal) own.add(person);
    }
  }
  return ends;
}
