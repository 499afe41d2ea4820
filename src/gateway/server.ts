import { randomBytes, randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { hostname } from 'node:os';
import { createScramSha256Data, verifyScramSha256Password } from 'pg-gateway';
import { fromNodeSocket } from 'pg-gateway/node';
import { noteRefusal, recordSessionEnd, recordSessionStart, touchSessions } from '../access/gateway-sessions.ts';
import { SESSION_LOST_AFTER_MS } from '../access/gateway-reaper.ts';
import { GroupAppender } from '../audit/group-append.ts';
import { resourceById, type LoadedPolicy, type ResourcePolicy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import { Listener } from '../db/listener.ts';
import type { Logger } from '../log.ts';
import { gatewayConfigOf, upstreamPasswordFor, type GatewayLimits } from '../provisioners/postgres-gateway.ts';
import { postgresTargetOf, roleNameFor, type PostgresTarget } from '../provisioners/postgres.ts';
import { accessEnded, fatal, utcMinute } from './backend.ts';
import { loadStatementParser, PINNED_SETTINGS } from './classify.ts';
import { CANCEL_REQUEST_CODE, GSS_REQUEST_CODE, SSL_REQUEST_CODE } from './frontend.ts';
import { GatewaySession, LOST_TEXT, type ClientStreams, type SessionSummary } from './session.ts';
import { cancelUpstream, openUpstream } from './upstream.ts';

/** When plain TCP (no TLS) is accepted: from loopback clients only (the default), never, or from anyone. */
export type PlaintextPolicy = 'loopback' | 'never' | 'always';

export interface GatewayOptions {
  db: Db;
  /** Gatehouse's database, for the connection that LISTENs for ends. */
  databaseUrl: string;
  policy: () => LoadedPolicy;
  /** Where each resource's admin connection string is (its provisioner's connection_env). */
  env: NodeJS.ProcessEnv;
  secretsKey: string;
  host: string;
  port: number;
  tls: { key: Buffer; cert: Buffer } | null;
  plaintext: PlaintextPolicy;
  log: Logger;
  /** Names this process in gateway_sessions. */
  replica?: string;
  /** Milliseconds now, for how long since the sessions were last refreshed (Date.now; tests move it on). */
  now?: () => number;
}

/** How often a replica re-checks the grants of the sessions it holds, whatever it was told. */
const RECHECK_MS = 5_000;
/**
 * A replica that has not refreshed its sessions' rows for this long ends them itself and
 * records nothing more for them: well before the reaper may end them on the record
 * (SESSION_LOST_AFTER_MS after they were last seen), so that no statement of theirs lands on
 * the chain after that end when the database comes back.
 */
export const SESSION_FENCE_MS = SESSION_LOST_AFTER_MS - 6 * RECHECK_MS;
/** setTimeout's longest delay; a later end is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Ended sessions whose summaries sessionEnded() still answers with. */
const MAX_ENDED_KEPT = 1_000;
/** More than a login's messages (startup, SCRAM) ever take: a connection that sends more before it is in is closed. */
const MAX_LOGIN_BYTES = 64 * 1024;
/** A connection that has not logged in this long after it opened is closed. */
const LOGIN_TIMEOUT_MS = 30_000;

/** A grant's gateway login (its SCRAM verifier), with what deciding a login needs of the grant. */
async function findLogin(db: Db, username: string) {
  return db
    .selectFrom('gateway_logins as l')
    .innerJoin('grants as g', 'g.id', 'l.grant_id')
    .select([
      'l.grant_id',
      'l.username',
      'l.salt',
      'l.iterations',
      'l.stored_key',
      'l.server_key',
      'g.user_id',
      'g.resource_id',
      'g.status',
      'g.starts_at',
      'g.ends_at',
      'g.ended_at',
    ])
    .where('l.username', '=', username)
    .executeTakeFirst();
}

type LoginRow = NonNullable<Awaited<ReturnType<typeof findLogin>>>;

/** What a connection has once its login is accepted, until its session starts. */
interface Opened {
  session: GatewaySession;
}

const isLoopback = (address: string | undefined) =>
  address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';

/**
 * The database gateway: contractors log in with their grant's gateway login
 * (SCRAM-SHA-256, TLS when a certificate is configured) and reach the resource's database
 * through it, as the grant's own login role, whose password only Gatehouse knows. Every
 * statement is on the audit log before it runs (session.ts). Sessions end on the instant:
 * a timer at each grant's end, and a NOTIFY from the database when a grant ends early, is
 * extended, or an owner presses End session, on whichever replica holds the session.
 */
export class Gateway {
  private readonly server: Server;
  private readonly recorder: GroupAppender;
  private readonly sessions = new Map<string, GatewaySession>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();
  private readonly listener: Listener;
  /** Sessions that ended here, with their summaries, for whoever waits on one (tests, the benchmark). */
  private readonly ended = new Map<string, SessionSummary>();
  private readonly endWaiters = new Map<string, ((summary: SessionSummary) => void)[]>();
  private recheck: NodeJS.Timeout | null = null;
  private stopped = false;
  /** When the last refresh of the held sessions' rows that succeeded was sent (Date.now()). */
  private touchedAt: number;
  /** It ended its sessions for want of a refresh, and said so (once per loss). */
  private fenced = false;
  readonly replica: string;
  private readonly now: () => number;

  private constructor(private readonly options: GatewayOptions) {
    this.recorder = new GroupAppender(options.db, options.log);
    this.replica = options.replica ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.now = options.now ?? Date.now;
    this.touchedAt = this.now();
    this.server = createServer((socket) => void this.accept(socket));
    this.listener = new Listener({
      databaseUrl: options.databaseUrl,
      channel: 'gatehouse_gateway',
      applicationName: 'gatehouse-gateway',
      onNotify: (grantId) => void this.check(grantId),
      onReconnected: () => void this.recheckAll(),
      log: options.log,
      lostMessage:
        'the gateway lost its database connection for ends; it re-checks its sessions every few seconds meanwhile',
    });
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    await loadStatementParser();
    const gateway = new Gateway(options);
    await gateway.listener.start();
    gateway.server.listen(options.port, options.host);
    await once(gateway.server, 'listening');
    gateway.recheck = setInterval(() => void gateway.recheckAll(), RECHECK_MS);
    gateway.recheck.unref();
    options.log.info({ address: gateway.address() }, 'the database gateway is listening');
    return gateway;
  }

  address(): { host: string; port: number } {
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('the gateway is not listening');
    return { host: address.address, port: address.port };
  }

  /** The sessions this replica holds (for tests and the benchmark). */
  liveSessions(): GatewaySession[] {
    return [...this.sessions.values()];
  }

  /** Resolves once the session has ended on this replica and its end is recorded. */
  sessionEnded(id: string): Promise<SessionSummary> {
    const summary = this.ended.get(id);
    if (summary) return Promise.resolve(summary);
    return new Promise((resolve) => this.endWaiters.set(id, [...(this.endWaiters.get(id) ?? []), resolve]));
  }

  /** Group-commit counters of the statement records, for the benchmark. */
  get recordStats(): { commits: number; events: number } {
    return this.recorder.stats;
  }

  /** Stops listening, ends every session (they are told why), and writes what is still to be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.recheck) clearInterval(this.recheck);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all(
      [...this.sessions.values()].map((session) =>
        session.end('gateway_stopped', 'the gateway is shutting down: connect again in a moment'),
      ),
    );
    for (const socket of this.sockets) socket.destroy();
    await closed;
    for (const timer of this.timers.values()) clearTimeout(timer);
    await this.listener.stop();
    await this.recorder.close();
  }

  private async accept(socket: Socket): Promise<void> {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    // Silent from the start: closed like a login not done in time.
    socket.setTimeout(LOGIN_TIMEOUT_MS, () => socket.destroy());
    try {
      let first = await readInitialMessage(socket);
      let code = first.readInt32BE(4);
      // GSSAPI encryption is not offered: say no, and the client goes on to TLS or plain.
      while (code === GSS_REQUEST_CODE || (code === SSL_REQUEST_CODE && !this.options.tls)) {
        socket.write('N');
        first = await readInitialMessage(socket);
        code = first.readInt32BE(4);
      }
      if (code === CANCEL_REQUEST_CODE) {
        await this.cancel(first.readInt32BE(8), first.readInt32BE(12));
        socket.destroy();
        return;
      }
      const wantsTls = code === SSL_REQUEST_CODE;
      if (!wantsTls && !this.plaintextAllowed(socket)) {
        socket.end(
          fatal(
            '28000',
            this.options.tls
              ? 'this gateway takes TLS connections only: connect with sslmode=require'
              : 'this gateway takes connections from this address over TLS only, and has no certificate configured',
          ),
        );
        return;
      }
      if (wantsTls) {
        // The TLS handshake is ours, not the protocol library's: a client that is not TLS
        // (or does not trust the certificate) is one failed socket, handled here.
        socket.write('S');
        const secure = new TLSSocket(socket, {
          isServer: true,
          key: this.options.tls!.key,
          cert: this.options.tls!.cert,
        });
        secure.on('error', () => secure.destroy());
        secure.setTimeout(LOGIN_TIMEOUT_MS, () => secure.destroy());
        await Promise.race([
          once(secure, 'secure'),
          once(secure, 'close').then(() => {
            throw new Error('the TLS handshake failed');
          }),
        ]);
        secure.setTimeout(0);
        await this.serve(secure, socket.remoteAddress, true, () => socket.setTimeout(0));
        return;
      }
      socket.unshift(first);
      await this.serve(socket, socket.remoteAddress, false, () => socket.setTimeout(0));
    } catch (err) {
      this.options.log.debug({ err }, 'a gateway connection ended before its login');
      socket.destroy();
    }
  }

  private plaintextAllowed(socket: Socket): boolean {
    const { plaintext } = this.options;
    return plaintext === 'always' || (plaintext === 'loopback' && isLoopback(socket.remoteAddress));
  }

  /** Hands the connection to pg-gateway for the startup message and the SCRAM exchange, then runs its session. */
  private async serve(
    socket: Socket,
    clientAddress: string | undefined,
    tls: boolean,
    loggedIn: () => void,
  ): Promise<void> {
    let login: LoginRow | undefined;
    let opened: Opened | null = null;
    // A login not done in time frees its connection, and so does one that sends more than
    // a login takes (the protocol library would buffer a message of any length).
    const loginTimer = setTimeout(() => {
      if (!opened) socket.destroy();
    }, LOGIN_TIMEOUT_MS).unref();
    // A client gone between its login being accepted and its session starting: end that session.
    let running = false;
    socket.once('close', () => {
      clearTimeout(loginTimer);
      if (opened && !running) void opened.session.end('client_closed', '');
    });
    let loginBytes = 0;
    const loginGuard = (chunk: Buffer) => {
      loginBytes += chunk.length;
      if (loginBytes > MAX_LOGIN_BYTES) socket.destroy();
    };
    socket.on('data', loginGuard);
    const connection = await fromNodeSocket(socket, {
      auth: {
        method: 'scram-sha-256',
        getScramSha256Data: async ({ username }) => {
          login = await findLogin(this.options.db, username);
          // An unknown login gets a made-up verifier, so that a wrong name and a wrong password look alike.
          if (!login) return createScramSha256Data(randomBytes(24).toString('base64url'));
          return {
            salt: login.salt,
            iterations: login.iterations,
            storedKey: login.stored_key,
            serverKey: login.server_key,
          };
        },
        validateCredentials: async ({ authMessage, clientProof, scramSha256Data }, state) => {
          const right = await verifyScramSha256Password({
            authMessage,
            clientProof,
            storedKey: scramSha256Data.storedKey,
          });
          if (!login) return false;
          const resource = resourceById(this.options.policy().policy, login.resource_id);
          if (!right) {
            await this.refuseLogin(login, clientAddress, { reason: 'wrong_password' });
            return false;
          }
          const refusal = this.loginRefusal(login, resource, state.clientParams?.database);
          if (refusal) {
            await this.refuseLogin(login, clientAddress, refusal.record);
            throw new Error(refusal.text);
          }
          opened = await this.open(
            login,
            resource!,
            socket,
            clientAddress,
            state.clientParams ?? { user: login.username },
            tls,
          );
          return true;
        },
      },
      onAuthenticated: async () => {
        clearTimeout(loginTimer);
        socket.off('data', loginGuard);
        running = true;
        loggedIn();
        const streams = (await connection.detach()) as ClientStreams;
        void this.run(opened!.session, streams);
      },
    });
  }

  /** Starts relaying once pg-gateway has let go of the streams (after its hook returns). */
  private async run(session: GatewaySession, streams: ClientStreams): Promise<void> {
    try {
      for (let i = 0; streams.readable.locked || streams.writable.locked; i++) {
        if (i > 1000) throw new Error('the login did not release the connection');
        await new Promise((resolve) => setImmediate(resolve));
      }
      await session.run(streams);
      this.arm(session.grant.id, session.grant.endsAt);
    } catch (err) {
      this.options.log.warn({ err, sessionId: session.id }, 'a gateway session could not start');
      await session.end('client_closed', '');
    }
  }

  /** Why a right password is still refused: the grant not started, ended, or another database asked for. */
  private loginRefusal(
    login: LoginRow,
    resource: ResourcePolicy | undefined,
    database: string | undefined,
  ): { text: string; record: Record<string, unknown> } | null {
    const name = resource?.name ?? login.resource_id;
    const now = new Date();
    if (login.status === 'provisioning' || login.starts_at > now)
      return {
        text: `your access to ${name} has not started yet${login.starts_at > now ? `: it starts at ${utcMinute(login.starts_at)}` : ''}`,
        record: { reason: 'not_started', starts_at: login.starts_at.toISOString() },
      };
    if (login.status !== 'active' || login.ends_at <= now || !resource || !this.configOf(resource)) {
      const at = login.ended_at ?? (login.ends_at <= now ? login.ends_at : now);
      return {
        text: accessEnded(name, at),
        record: { reason: 'ended', ended_at: at.toISOString() },
      };
    }
    const target = this.targetOf(resource);
    if (database && database !== target.database)
      return {
        text: `this login is for the database ${target.database} of ${name}, not ${database}`,
        record: { reason: 'wrong_database' },
      };
    return null;
  }

  private async refuseLogin(
    login: LoginRow,
    clientAddress: string | undefined,
    record: Record<string, unknown>,
  ): Promise<void> {
    await this.recorder
      .append({
        actor: 'system',
        action: 'gateway.login_refused',
        subject: login.grant_id,
        body: {
          user: login.user_id,
          resource: login.resource_id,
          ...record,
          client_address: clientAddress ?? null,
        },
      })
      .catch((err: unknown) => this.options.log.error({ err }, 'a refused gateway login could not be recorded'));
  }

  private configOf(resource: ResourcePolicy): { connectionEnv: string; gateway: GatewayLimits } | null {
    return gatewayConfigOf(resource.provisioner);
  }

  private targetOf(resource: ResourcePolicy): PostgresTarget {
    const config = this.configOf(resource)!;
    const url = this.options.env[config.connectionEnv];
    if (!url) throw new Error(`${config.connectionEnv} is not set`);
    return postgresTargetOf(url);
  }

  /** Opens the session upstream as the grant's login role, and puts its start on the record. */
  private async open(
    login: LoginRow,
    resource: ResourcePolicy,
    socket: Socket,
    clientAddress: string | undefined,
    params: Record<string, string>,
    tls: boolean,
  ): Promise<Opened> {
    const limits = this.configOf(resource)!.gateway;
    const id = `ses_${randomBytes(10).toString('hex')}`;
    const role = roleNameFor(login.grant_id);
    let upstream;
    try {
      upstream = await openUpstream(
        this.targetOf(resource),
        {
          user: role,
          password: upstreamPasswordFor(this.options.secretsKey, role),
          applicationName: `gatehouse-gateway ${id}`.slice(0, 63),
        },
        {
          ...PINNED_SETTINGS,
          // PostgreSQL notices a client gone mid-statement within a second (14 and newer).
          client_connection_check_interval: '1000',
          ...(limits.readOnly ? { default_transaction_read_only: 'on' } : {}),
        },
      );
    } catch (err) {
      this.options.log.warn({ err, grantId: login.grant_id }, 'the gateway could not open a session upstream');
      throw new Error(`could not reach ${resource.name}: ${(err as Error).message}`);
    }
    const cancelKey = { pid: randomInt(1, 2 ** 31 - 1), secret: randomInt(-(2 ** 31), 2 ** 31 - 1) };
    const grant = { grant: login.grant_id, resource: login.resource_id };
    try {
      await recordSessionStart(
        this.options.db,
        {
          id,
          grantId: login.grant_id,
          userId: login.user_id,
          resourceId: login.resource_id,
          replica: this.replica,
          clientAddress: clientAddress ?? null,
          applicationName: params.application_name?.slice(0, 200) ?? null,
          cancelKey,
          upstreamKey: { pid: upstream.pid, secret: upstream.secret },
        },
        {
          actor: login.user_id,
          action: 'gateway.session_started',
          subject: id,
          body: {
            ...grant,
            database: this.targetOf(resource).database,
            role,
            client_address: clientAddress ?? null,
            application_name: params.application_name?.slice(0, 200) ?? null,
            tls,
            replica: this.replica,
          },
        },
      );
    } catch (err) {
      upstream.socket.destroy();
      // A start committed all the same (its answer lost) must not stay live: ended on the
      // record now if the database can be reached, else by the lost-session sweep.
      const none = { statements: 0, rows: 0, refused: 0 };
      await recordSessionEnd(
        this.options.db,
        id,
        { reason: 'upstream_closed', ...none },
        {
          actor: 'system',
          action: 'gateway.session_ended',
          subject: id,
          body: { ...grant, reason: 'upstream_closed', ...none, duration_ms: 0, in_transaction: false },
        },
      ).catch(() => undefined);
      this.options.log.error(
        { err, grantId: login.grant_id },
        'a gateway session was refused: its start could not be recorded',
      );
      throw new Error(
        'Gatehouse could not record this session in the audit log, so it was not opened; try again shortly',
      );
    }
    const session = new GatewaySession(
      {
        id,
        grant: {
          id: login.grant_id,
          userId: login.user_id,
          resourceId: login.resource_id,
          resourceName: resource.name,
          endsAt: login.ends_at,
        },
        limits,
        recorder: this.recorder,
        log: this.options.log,
        cancelKey,
        recordEnd: (summary, event) => recordSessionEnd(this.options.db, id, summary, event),
        keepTrying: () => !this.stopped,
        lost: () => this.lost(),
        onEnded: (summary) => {
          this.sessions.delete(id);
          if (!this.sessionsOf(login.grant_id).length) {
            clearTimeout(this.timers.get(login.grant_id));
            this.timers.delete(login.grant_id);
          }
          this.ended.set(id, summary);
          // Kept for whoever asks soon after; the oldest go.
          if (this.ended.size > MAX_ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
          for (const resolve of this.endWaiters.get(id) ?? []) resolve(summary);
          this.endWaiters.delete(id);
        },
        onRefused: (n, refusal, sql) =>
          noteRefusal(this.options.db, { sessionId: id, n, rule: refusal.rule, reason: refusal.reason, sql }),
        cancelUpstream: () => cancelUpstream(this.targetOf(resource), upstream.pid, upstream.secret),
        grantEnded: async () => {
          const row = await this.options.db
            .selectFrom('grants')
            .select(['status', 'ends_at'])
            .where('id', '=', login.grant_id)
            .executeTakeFirst();
          return !row || row.status !== 'active' || row.ends_at <= new Date();
        },
      },
      socket,
      upstream,
    );
    this.sessions.set(id, session);
    return { session };
  }

  private sessionsOf(grantId: string): GatewaySession[] {
    return [...this.sessions.values()].filter((session) => session.grant.id === grantId);
  }

  /** Arms the one timer per grant that ends its sessions here at its end. */
  private arm(grantId: string, endsAt: Date): void {
    clearTimeout(this.timers.get(grantId));
    if (this.stopped) return;
    const delay = Math.min(Math.max(0, endsAt.getTime() - Date.now()), MAX_TIMER_MS);
    this.timers.set(grantId, setTimeout(() => void this.check(grantId, true), delay).unref());
  }

  /**
   * Looks at a grant's sessions on this replica (one query): ends them if the grant is over
   * or an end was asked for, else re-arms the grant's timer (the end may have moved).
   * `due`: the timer fired; if the database cannot be asked, the sessions end on the end
   * they knew (fail closed).
   */
  private async check(grantId: string, due = false): Promise<void> {
    const mine = this.sessionsOf(grantId);
    if (mine.length === 0) return;
    const knownEnd = mine[0]!.grant.endsAt;
    let grant: { status: string; ends_at: Date; ended_at: Date | null; requested: string[] } | undefined;
    try {
      const { rows } = await sql<{ status: string; ends_at: Date; ended_at: Date | null; requested: string[] }>`
        select g.status, g.ends_at, g.ended_at,
               array(select s.id from gateway_sessions s
                     where s.grant_id = g.id and s.end_requested_at is not null and s.ended_at is null) as requested
        from grants g where g.id = ${grantId}`.execute(this.options.db);
      grant = rows[0];
    } catch (err) {
      this.options.log.warn(
        { err, grantId },
        'the gateway could not look up a grant; it ends sessions on the end it knew',
      );
      if (due && knownEnd.getTime() <= Date.now())
        for (const session of mine) void session.end('grant_ended', session.endedText());
      else this.arm(grantId, knownEnd);
      return;
    }
    const now = new Date();
    const requested = new Set(grant?.requested ?? []);
    let live = false;
    for (const session of mine) {
      if (requested.has(session.id)) {
        void session.end('ended_by_owner', `an owner of ${session.grant.resourceName} ended this session`);
      } else if (!grant || grant.status !== 'active' || grant.ends_at <= now) {
        const at = grant?.ended_at ?? (grant && grant.ends_at <= now ? grant.ends_at : now);
        void session.end('grant_ended', session.endedText(at));
      } else {
        session.grant.endsAt = grant.ends_at;
        live = true;
      }
    }
    if (live) this.arm(grantId, grant!.ends_at);
  }

  /** Whether this replica went SESSION_FENCE_MS without refreshing its sessions: then they must end. */
  private lost(): boolean {
    return this.now() - this.touchedAt > SESSION_FENCE_MS;
  }

  private async recheckAll(): Promise<void> {
    // Checked before refreshing: a refresh that hangs (the database unreachable, not refusing) must not hold it off.
    if (this.lost() && this.sessions.size > 0) {
      if (!this.fenced)
        this.options.log.error(
          { sessions: this.sessions.size },
          'the gateway could not refresh its sessions for too long: it ends them before they are ended as lost',
        );
      this.fenced = true;
      for (const session of this.sessions.values()) void session.end('replica_lost', LOST_TEXT);
    }
    const held = [...this.sessions.values()];
    const sent = this.now();
    const open = await touchSessions(
      this.options.db,
      held.map((session) => ({ id: session.id, ...session.counts })),
    ).catch((err: unknown) => {
      this.options.log.warn({ err }, 'the gateway could not refresh its sessions on the record');
      return null;
    });
    if (open) {
      this.touchedAt = Math.max(this.touchedAt, sent);
      this.fenced = false;
    }
    // Ended on the record while this replica could not refresh them (src/access/gateway-reaper.ts):
    // they end here too, and their end is not recorded again.
    for (const session of held) if (open && !open.has(session.id)) void session.end('replica_lost', LOST_TEXT);
    const grants = new Set([...this.sessions.values()].map((session) => session.grant.id));
    for (const grant of grants) await this.check(grant);
  }

  /** A client's cancel request: forwarded to the database session it names, whichever replica holds it. */
  private async cancel(pid: number, secret: number): Promise<void> {
    const row = await this.options.db
      .selectFrom('gateway_sessions')
      .select(['resource_id', 'upstream_pid', 'upstream_secret'])
      .where('cancel_pid', '=', pid)
      .where('cancel_secret', '=', secret)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (!row || row.upstream_pid === null || row.upstream_secret === null) return;
    const resource = resourceById(this.options.policy().policy, row.resource_id);
    if (!resource || !this.configOf(resource)) return;
    await cancelUpstream(this.targetOf(resource), row.upstream_pid, row.upstream_secret);
  }
}

/** Reads a connection's first message (length, then the rest), before any protocol library sees it. */
async function readInitialMessage(socket: Socket): Promise<Buffer> {
  const head = await readExactly(socket, 8);
  const length = head.readInt32BE(0);
  if (length < 8 || length > 10_000) throw new Error(`invalid first message length ${length}`);
  return length === 8 ? head : Buffer.concat([head, await readExactly(socket, length - 8)]);
}

async function readExactly(socket: Socket, n: number): Promise<Buffer> {
  for (;;) {
    const chunk = socket.read(n) as Buffer | null;
    if (chunk) return chunk;
    if (socket.readableEnded || socket.destroyed) throw new Error('the client closed the connection');
    await Promise.race([once(socket, 'readable'), once(socket, 'close')]);
  }
}
