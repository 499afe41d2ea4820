import type { AccessContext } from './context.ts';
import type { GrantId } from './ids.ts';

/** Credentials a provisioner made for a grant (a database login's password), as its holder is sent them. */
export type GrantCredentials = Record<string, string>;

/**
 * Credentials made for a grant are sent to its holder once, then forgotten: they wait
 * sealed on the grant, are opened for `send`, and are erased once `send` resolves. If it
 * throws they stay, for the retry. `send` gets null when nothing waits (none were made,
 * or they were sent already).
 */
export async function sendCredentialsOnce(
  ctx: AccessContext,
  grantId: GrantId,
  send: (credentials: GrantCredentials | null) => Promise<void>,
): Promise<void> {
  const credentials = await waitingCredentials(ctx, grantId);
  await send(credentials);
  if (credentials)
    await ctx.db.updateTable('grants').set({ delivery_secret: null }).where('id', '=', grantId).execute();
}

/** The sealed credentials waiting for this grant's holder, opened; null when there are none. */
async function waitingCredentials(ctx: AccessContext, grantId: GrantId): Promise<GrantCredentials | null> {
  const row = await ctx.db.selectFrom('grants').select('delivery_secret').where('id', '=', grantId).executeTakeFirst();
  if (!row?.delivery_secret) return null;
  const box = ctx.secrets;
  if (!box) throw new Error('credentials wait for this grant, but GATEHOUSE_SECRETS_KEY is not set to open them');
  return JSON.parse(box.open(row.delivery_secret, grantId)) as GrantCredentials;
}
