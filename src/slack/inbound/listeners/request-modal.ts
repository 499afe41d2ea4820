import type { ModalView } from '@slack/types';
import type { SlackUserId } from '../../../access/ids.ts';
import * as ui from '../../blocks/index.ts';
import type { SlackDeps } from '../deps.ts';
import type { RequestCommand } from '../parse-command.ts';

/** The request form for `userId`: only what they may ask for, filled with what they gave. */
export function requestModalFor(
  deps: SlackDeps,
  userId: SlackUserId,
  prefill: RequestCommand,
  context: ui.RequestModalContext = {},
): ModalView {
  const resources = deps.access.requestable(userId).map((r) => ({
    id: r.id,
    name: r.name,
    defaultDurationMs: r.defaultDurationMs,
    maxDurationMs: r.maxDurationMs,
    requireMfa: r.requireMfa,
    ...(r.ticket ? { ticket: { pattern: r.ticket.pattern, example: r.ticket.example } } : {}),
  }));
  const typed = prefill.resourceId;
  const chosen = typed === undefined ? undefined : closestRequestable(deps, userId, typed);
  return ui.requestModal({
    resources,
    prefill: {
      ...(chosen ? { resourceId: chosen } : {}),
      // What was typed, when it was not the id chosen, so the form can say so.
      ...(typed !== undefined && typed !== chosen ? { typedResource: typed } : {}),
      ...(prefill.duration ? { duration: prefill.duration } : {}),
      ...(prefill.reason ? { reason: prefill.reason } : {}),
      ...(prefill.ticket ? { ticket: prefill.ticket } : {}),
    },
    context,
  });
}

/**
 * The id of the resource `userId` may request that `typed` means: the id itself, or, when
 * `typed` names no resource at all, one it begins (`staging` → `staging-db`) or misses by a
 * letter or two (`prod-dbb` → `prod-db`). A resource they may not request is never guessed at.
 */
export function closestRequestable(deps: SlackDeps, userId: SlackUserId, typed: string): string | undefined {
  const ids = deps.access.requestable(userId).map((r) => r.id);
  if (ids.includes(typed)) return typed;
  if (deps.policy().policy.resources.some((r) => r.id === typed)) return undefined;
  const lower = typed.toLowerCase();
  const exact = ids.find((id) => id.toLowerCase() === lower);
  if (exact) return exact;
  const prefixed = ids.filter((id) => id.toLowerCase().startsWith(lower)).sort((a, b) => a.length - b.length);
  if (lower.length >= 2 && prefixed[0]) return prefixed[0];
  const near = ids
    .map((id) => ({ id, distance: editDistance(lower, id.toLowerCase()) }))
    .filter(({ distance }) => distance <= 2 && distance < lower.length / 2)
    .sort((a, b) => a.distance - b.distance);
  return near[0]?.id;
}

/** Levenshtein distance: letters added, removed or changed to turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const change = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + change);
    }
    previous = current;
  }
  return previous[b.length]!;
}
