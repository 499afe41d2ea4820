import http from 'node:http';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { pendingMigrations } from '../db/migrate.ts';

/**
 * `GET /healthz`: the process is up. `GET /readyz`: the database answers and every
 * migration is applied. Both answer JSON; readiness failures say what is wrong.
 */
export function createHealthServer(db: Db): http.Server {
  return http.createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return reply(405, { error: 'method not allowed' });
    if (req.url === '/healthz') return reply(200, { status: 'ok' });
    if (req.url === '/readyz') {
      void (async () => {
        try {
          await sql`select 1`.execute(db);
          const pending = await pendingMigrations(db);
          if (pending.length > 0) return reply(503, { status: 'not ready', reason: 'migrations pending', pending });
          return reply(200, { status: 'ready' });
        } catch (err) {
          return reply(503, { status: 'not ready', reason: 'database unreachable', error: (err as Error).message });
        }
      })();
      return;
    }
    reply(404, { error: 'not found' });
  });
}
