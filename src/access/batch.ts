/**
 * Several resources in one request (docs/asking.md §4): one request per resource, filed one
 * after another, each checked and decided on its own, sharing a `batch` id in their
 * `request.created` events so the record shows they were asked together. One refused
 * resource does not stop the others.
 */
import { randomBytes } from 'node:crypto';
import type { AccessContext } from './context.ts';
import type { Outcome } from './refusals.ts';
import { requestAccess, type RequestInput } from './requests.ts';
import type { AccessRequest } from './types.ts';

/** At most this many resources in one request: a longer list is more likely a paste gone wrong. */
export const MAX_BATCH = 10;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export function newBatchId(): string {
  let id = '';
  for (const byte of randomBytes(10)) id += ALPHABET[byte % 32];
  return `bat_${id}`;
}

export interface BatchItem {
  resourceId: string;
  outcome: Outcome<{ request: AccessRequest }>;
}

/** Files one request per input, in order, under one batch id; returns each outcome. */
export async function requestMany(
  ctx: AccessContext,
  inputs: readonly Omit<RequestInput, 'batch'>[],
): Promise<{ batch: string; items: BatchItem[] }> {
  const batch = newBatchId();
  const items: BatchItem[] = [];
  for (const input of inputs)
    items.push({ resourceId: input.resourceId, outcome: await requestAccess(ctx, { ...input, batch }) });
  return { batch, items };
}
