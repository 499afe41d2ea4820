import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditAction } from './actions.ts';
import { validateEventInput, type AuditEventInput } from './event.ts';

/**
 * Records an event in the caller's transaction: it commits with the state change it
 * describes, or not at all. The event waits in `audit_queue` until the sequencer gives it
 * its seq and hash, which keeps the chain's one serial step out of every caller's commit.
 * `Action` is never inferred from the input: it is the list in actions.ts unless a caller
 * (an AuditLog built for tests) names another.
 */
export async function appendEvent<Action extends string = AuditAction>(
  trx: Kysely<Database>,
  input: AuditEventInput<NoInfer<Action>>,
): Promise<void> {
  await trx.insertInto('audit_queue').values(queueRow<Action>(input)).execute();
}

/** An event as its `audit_queue` row, validated: for callers that insert it within a larger statement. */
export function queueRow<Action extends string = AuditAction>(
  input: AuditEventInput<NoInfer<Action>>,
): { actor: string; action: string; subject: string | null; body: string } {
  const body = validateEventInput(input);
  return { actor: input.actor, action: input.action, subject: input.subject ?? null, body };
}
