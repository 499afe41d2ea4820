import type { AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import type { Refusal } from './refusals.ts';

/** Members of the policy's `auditors` group may run /verify-audit. */
export function mayVerifyAudit(ctx: AccessContext, userId: SlackUserId): boolean {
  return ctx.policy().policy.groups.get('auditors')?.includes(userId) ?? false;
}

/** Someone else asked to verify the log: refused, and the refusal is on the record. */
export async function refuseVerification(ctx: AccessContext, userId: SlackUserId): Promise<Refusal> {
  await ctx.audit.record({ actor: userId, action: 'audit.verify_refused', body: { reason: 'not-auditor' } });
  return { kind: 'not-auditor' };
}
