import http from 'node:http';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { pendingMigrations } from '../db/migrate.ts';
import type { Logger } from '../log.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** `GET /healthz`: the process is up. */
export const healthz: Handler = (_req, res) => reply(res, 200, { status: 'ok' });

/** Whether the background thread (sweeps, notifications, the audit chain) is running now. */
export type BackgroundCheck = () => boolean;

/**
 * `GET /readyz`: the database answers, every migration is applied and the background
 * thread runs (without it, grants would not end on time); failures say what is wrong, in
 * words safe for a public port. The database's own error (host, port, user) goes to the log.
 */
export function readyz(db: Db, log: Logger, background: BackgroundCheck = () => true): Handler {
  return (_req, res) => {
    void (async () => {
      if (!background())
        return reply(res, 503, {
          status: 'not ready',
          reason: 'background thread not running: sweeps and notifications wait until it is started again',
        });
      try {
        await sql`select 1`.execute(db);
        const pending = await pendingMigrations(db);
        if (pending.length > 0) return reply(res, 503, { status: 'not ready', reason: 'migrations pending', pending });
        reply(res, 200, { status: 'ready' });
      } catch (err) {
        log.warn({ err }, 'readiness check: the database did not answer');
        reply(res, 503, { status: 'not ready', reason: 'database unreachable' });
      }
    })();
  };
}

/** The same two endpoints as Bolt custom routes, when Bolt owns the port. */
export function healthRoutes(
  db: Db,
  log: Logger,
  background?: BackgroundCheck,
  metrics?: Handler,
): { path: string; method: string[]; handler: Handler }[] {
  return [
    { path: '/healthz', method: ['GET'], handler: healthz },
    { path: '/readyz', method: ['GET'], handler: readyz(db, log, background) },
    ...(metrics ? [{ path: '/metrics', method: ['GET'], handler: metrics }] : []),
  ];
}

/** A server with only the health endpoints, for when Slack is not configured. */
export function createHealthServer(db: Db, log: Logger, background?: BackgroundCheck, metrics?: Handler): http.Server {
  const ready = readyz(db, log, background);
  return http.createServer((req, res) => {
    if (req.method !== 'GET') return reply(res, 405, { error: 'method not allowed' });
    if (req.url === '/healthz') return healthz(req, res);
    if (req.url === '/readyz') return ready(req, res);
    if (req.url === '/metrics' && metrics) return metrics(req, res);
    reply(res, 404, { error: 'not found' });
  });
}
