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
  }));
  const known = resources.some((r) => r.id === prefill.resourceId);
  return ui.requestModal({
    resources,
    prefill: {
      ...(known && prefill.resourceId ? { resourceId: prefill.resourceId } : {}),
      ...(prefill.duration ? { duration: prefill.duration } : {}),
      ...(prefill.reason ? { reason: prefill.reason } : {}),
    },
    context,
  });
}
