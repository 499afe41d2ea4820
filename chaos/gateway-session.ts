/**
 * A contractor's session through the database gateway: the login from their direct
 * message, `pg` through the gateway front, a statement every second until the session is
 * cut (the grant ended, a replica died) or 20 s are over; then, 3 s past the grant's end,
 * the same login again, which must be refused.
 */
import pg from 'pg';
import { sleep } from './people.ts';
import type { GatewayCounts } from './slack-protocol.ts';

export interface GatewayLogin {
  url: string;
  /** The grant's end as the holder was told (ms since the epoch). */
  endsAt: number;
}

/** The `url: postgresql://…` line in a login message's blocks; null when it has none. */
export function loginUrlIn(blocks: unknown): string | null {
  const texts = Array.isArray(blocks)
    ? blocks.map((b: { text?: { text?: unknown } }) => String(b.text?.text ?? ''))
    : [];
  return /url: (postgresql:\/\/[^\s`']+)/.exec(texts.join('\n'))?.[1] ?? null;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, ssl: false });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function gatewaySession(login: GatewayLogin, counts: GatewayCounts): Promise<void> {
  let client: pg.Client;
  try {
    client = await connect(login.url);
  } catch {
    counts.sessionsRefused += 1;
    return;
  }
  counts.sessions += 1;
  const until = Date.now() + 20_000;
  try {
    while (Date.now() < until) {
      try {
        await client.query('select count(*), sum(total) from chaos_orders where id <= $1', [
          Math.ceil(Math.random() * 100),
        ]);
        counts.statements += 1;
      } catch {
        counts.statementsFailed += 1;
        counts.sessionsCut += 1;
        return;
      }
      await sleep(1000);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The login tried again after its grant's end (plus 2 s of grace and 1 more): refused, or a breach. */
export async function lateLogin(login: GatewayLogin, counts: GatewayCounts, endsAt: () => number): Promise<void> {
  await sleep(Math.max(0, endsAt() + 3000 - Date.now()));
  try {
    const client = await connect(login.url);
    // Accepted: is it really usable? A statement says so.
    await client.query('select 1 from chaos_orders limit 1');
    await client.end().catch(() => undefined);
    counts.lateLoginsAccepted.push(
      `${new URL(login.url).username} at +${((Date.now() - endsAt()) / 1000).toFixed(1)} s`,
    );
  } catch {
    counts.lateLoginsRefused += 1;
  }
}
