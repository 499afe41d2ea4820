import type { GrantId, SlackUserId } from '../../src/access/ids.ts';
import type { ShownSession } from '../../src/slack/blocks/gateway-sessions.ts';

/**
 * The n-th live gateway session of one grant, as the Slack surfaces show it: started n
 * minutes after `t0`, by a client whose name is long enough to be cut.
 */
export function aShownSession(
  n: number,
  { resource, userId, t0 }: { resource: { id: string; name: string }; userId: string; t0: Date },
): ShownSession {
  return {
    resource,
    session: {
      id: `ses_${n}`,
      grant_id: 'grt_1' as GrantId,
      user_id: userId as SlackUserId,
      resource_id: resource.id,
      replica: 'gw-1',
      client_address: '10.0.0.7',
      application_name: 'a client that names itself at length '.repeat(5),
      started_at: new Date(t0.getTime() + n * 60_000),
      seen_at: t0,
      ended_at: null,
      end_reason: null,
      end_requested_at: null,
      end_requested_by: null,
      statements: 0,
      rows: '0',
      refused: 0,
      cancel_pid: n,
      cancel_secret: n,
      upstream_pid: null,
      upstream_secret: null,
    },
  };
}
