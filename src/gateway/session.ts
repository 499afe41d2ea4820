import { once } from 'node:events';
import type { Socket } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { AuditEventInput } from '../audit/event.ts';
import type { GroupAppender } from '../audit/group-append.ts';
import type { GrantId, SlackUserId } from '../db/ids.ts';
import type { GatewayEndReason } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { GatewayLimits } from '../provisioners/postgres-gateway.ts';
import { accessEnded, backendKeyData, fatal, parameterStatus, readyForQuery } from './backend.ts';
import { judge, PINNED_SETTINGS, type Refusal, type StatementFacts } from './classify.ts';
import { cut } from '../audit/event.ts';
import { fitted, MAX_RECORDED_ERROR, paramsForRecord, sqlForRecord } from './records.ts';
import {
  FRONTEND,
  MessageFramer,
  readBind,
  readExecute,
  readFunctionCall,
  readParse,
  readQuery,
  readTarget,
  withNames,
  type ParameterValue,
} from './frontend.ts';
import type { UpstreamSession } from './upstream.ts';
import { gatewayStatements } from '../metrics/metrics.ts';

/** Answers waiting for a slow client beyond this pause the database's socket … */
const PAUSE_BYTES = 1024 * 1024;
/** … until they are down to this. */
const RESUME_BYTES = 256 * 1024;
/** How long an ending session waits for the database to take its cancel request. */
const CANCEL_WAIT_MS = 1_000;
/** pg_catalog.set_config(text, text, boolean), the same OID in every PostgreSQL. */
const SET_CONFIG_OID = 2078;
/** How long an ending session waits for a client that is not reading to take its FATAL error. */
const FATAL_WRITE_WAIT_MS = 200;
/** An end that could not be recorded (the database unreachable) is tried again this often. */
const END_RETRY_MS = 1_000;

/** The grant a session runs under, as the gateway checked it at login. */
export interface SessionGrant {
  id: GrantId;
  userId: SlackUserId;
  resourceId: string;
  resourceName: string;
  endsAt: Date;
}

/** What the session tells whoever holds it (server.ts) when it is over. */
export interface SessionSummary {
  reason: GatewayEndReason;
  statements: number;
  refused: number;
  rows: number;
  inTransaction: boolean;
}

export interface SessionOptions {
  id: string;
  grant: SessionGrant;
  limits: GatewayLimits;
  recorder: GroupAppender;
  log: Logger;
  /** The cancel key the client was given (ours, not the database's). */
  cancelKey: { pid: number; secret: number };
  /**
   * Records the end (the row and `gateway.session_ended`, one transaction, only if the row
   * is still open): true if recorded now, false if the record already said it ended (the
   * reaper, while this replica was cut off). Throws when the database cannot be reached.
   */
  recordEnd: (summary: SessionSummary, event: AuditEventInput) => Promise<boolean>;
  /** Whether an end the database would not take is still worth trying again (false once the gateway stops). */
  keepTrying: () => boolean;
  /**
   * Whether this replica has gone too long without refreshing its sessions on the record:
   * the session may already be ended there as lost, so it records nothing more and ends.
   */
  lost: () => boolean;
  /** Called once, when the session has ended and its end is on the record (or left to the reaper). */
  onEnded: (summary: SessionSummary) => void;
  /** Called for each refused statement, after it is recorded (the audit channel is told at once). */
  onRefused: (n: number, refusal: Refusal, sql: string) => Promise<void>;
  /** Asked when the database closes the session, to tell a grant ended from anything else. */
  grantEnded: () => Promise<boolean>;
  /** Cancels what the session is running upstream (a cancel request with the database's key). */
  cancelUpstream: () => Promise<void>;
}

/** A duplex of web streams, as pg-gateway hands over a connection once it has authenticated it. */
export interface ClientStreams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/** A statement on the record, waiting for the database's answer. */
interface Recorded {
  n: number;
  started: number;
  rows: number;
  tags: string[];
  error?: { code: string; message: string };
}

/**
 * A prepared statement as the gateway knows it: its text, whether it was refused (replaced),
 * and its name upstream. Every named statement and portal gets a name of the gateway's own
 * upstream (`gatehouse_s…`, `gatehouse_p…`, which no SQL may name), so the client's names
 * reach only what the gateway parsed and bound, and the record holds the text that runs.
 */
interface Prepared {
  sql: string;
  refused: boolean;
  /** Its classes and tables, for the record of each Execute. */
  facts: StatementFacts;
  upstream: string;
}

/** A portal (a Bind): what it runs, with which parameters, and its name upstream. */
interface Portal {
  sql: string;
  facts: StatementFacts;
  params: ParameterValue[];
  refused: boolean;
  statement: string;
  upstream: string;
}

/** What the holder of a session its replica had to give up is told. */
export const LOST_TEXT =
  'this gateway lost touch with Gatehouse for too long and your session was ended on the audit record: connect again';

/** What a statement that comes while its session is ending gets instead: never recorded, never sent. */
const SESSION_ENDING: Refusal = { rule: 'session_ending', reason: 'this session is ending: the statement was not run' };

/** An upstream name no statement or portal has: the database answers that it does not exist. */
const NO_SUCH_NAME = 'gatehouse_unknown';

/**
 * What the gateway expects the database to answer next, in the order it forwarded messages.
 * A Parse, Bind or Close keeps what its name meant before: if the database refuses it (or
 * skips it after an earlier error) the name keeps its old meaning, and so must the record.
 * `name` is null for the gateway's own (a refusal's).
 */
type Expected =
  | { kind: 'query' | 'function_call' | 'execute'; recorded: Recorded | null }
  | { kind: 'parse'; name: string | null; previous: Prepared | undefined }
  | { kind: 'bind'; name: string | null; previous: Portal | undefined }
  | { kind: 'close'; target: 'S' | 'P'; name: string; previous: Prepared | Portal | undefined }
  | { kind: 'describe' | 'sync' };

/** A refused statement is replaced by this, so the database raises the refusal in its own order and state. */
function raising(refusal: Refusal): string {
  return `DO $gatehouse_refused$ BEGIN RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = ${pg.escapeLiteral(
    refusal.reason,
  )}, HINT = ${pg.escapeLiteral(`Gatehouse gateway rule: ${refusal.rule}`)}; END $gatehouse_refused$`;
}

/** Resolves when `socket` drains or closes, leaving no listener behind. */
async function drainedOrClosed(socket: Socket): Promise<void> {
  const done = new AbortController();
  const wait = (event: string) => once(socket, event, { signal: done.signal }).catch(() => undefined);
  await Promise.race([wait('drain'), wait('close')]);
  done.abort();
}

function restore<T>(map: Map<string, T>, name: string, previous: T | undefined): void {
  if (previous === undefined) map.delete(name);
  else map.set(name, previous);
}

function rowsOf(tag: string): number {
  const last = tag.split(' ').at(-1);
  return last && /^\d+$/.test(last) ? Number(last) : 0;
}

/**
 * One client's session through the gateway, after login: bytes are relayed both ways as
 * they come, and every statement is on the audit log before it is sent on. A simple
 * query, an Execute (its text from the Parse, its parameters from the Bind) and a function
 * call are each recorded and committed first (`gateway.statement`); if the record cannot
 * be written the statement is refused instead. The answers are read, never kept, for each
 * statement's outcome (`gateway.statement_done`). A statement the resource's limits
 * refuse is replaced by one that raises the refusal, so the client gets a normal error in
 * its place and the database's transaction state stays what PostgreSQL would make it.
 */
export class GatewaySession {
  private readonly framer = new MessageFramer();
  private readonly parser = new Parser();
  private readonly statements = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  private readonly expected: Expected[] = [];
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private count = 0;
  /** Upstream names given so far. */
  private names = 0;
  /** Bytes of answers written to the client's stream and not yet taken by its socket. */
  private unsent = 0;
  private refusedCount = 0;
  /** The database's own FATAL before it closed the connection, held back (fromDatabase). */
  private farewell: string | null = null;
  private rows = 0;
  private status = 'I';
  private ended: Promise<void> | null = null;
  private readonly started = Date.now();
  /** Statement records being committed: an end waits for them, so it comes after them on the chain. */
  private readonly recording = new Set<Promise<unknown>>();
  /** Numbered records (statements and refusals) and refusals committed so far. */
  private readonly committed = { statements: 0, refused: 0 };

  constructor(
    private readonly options: SessionOptions,
    private readonly clientSocket: Socket,
    private readonly upstream: UpstreamSession,
  ) {}

  get id(): string {
    return this.options.id;
  }

  get grant(): SessionGrant {
    return this.options.grant;
  }

  /** What is on the record so far (refreshed into the session's row, for the reaper should this replica be lost). */
  get counts(): { statements: number; refused: number; rows: number } {
    return { ...this.committed, rows: this.rows };
  }

  /** Answers waiting for the client, and whether the database's socket is paused for them (tests). */
  get backlog(): { bytes: number; databasePaused: boolean } {
    return { bytes: this.unsent, databasePaused: this.upstream.socket.isPaused() };
  }

  /** Tells the client its session is open (the database's settings, our cancel key) and starts relaying. */
  async run(client: ClientStreams): Promise<void> {
    if (this.ended) return;
    this.writer = client.writable.getWriter();
    this.reader = client.readable.getReader();
    const hello = [
      ...this.upstream.parameters.map(([name, value]) => parameterStatus(name, value)),
      backendKeyData(this.options.cancelKey.pid, this.options.cancelKey.secret),
      readyForQuery(this.upstream.status),
    ];
    await this.writer.write(Buffer.concat(hello));
    this.upstream.socket.on('data', (chunk: Buffer) => this.fromDatabase(chunk));
    this.upstream.socket.resume();
    if (this.upstream.socket.destroyed) void this.end('upstream_closed', 'the database closed this session');
    this.upstream.socket.on('close', () => {
      void this.options
        .grantEnded()
        .catch(() => false)
        .then((ended) =>
          this.end(
            ended ? 'grant_ended' : 'upstream_closed',
            ended ? this.endedText() : (this.farewell ?? 'the database closed this session'),
          ),
        );
    });
    void this.readClient();
  }

  /** Ends the session: the client is told why (a FATAL error) and both connections close. Idempotent. */
  end(reason: GatewayEndReason, text: string): Promise<void> {
    this.ended ??= this.finish(reason, text);
    return this.ended;
  }

  /** The message for a session whose grant ended. */
  endedText(at: Date = this.options.grant.endsAt): string {
    return accessEnded(this.options.grant.resourceName, at);
  }

  private async finish(reason: GatewayEndReason, text: string): Promise<void> {
    const inTransaction = this.status !== 'I';
    const code = reason === 'client_closed' ? null : '57P01';
    // The client is told why, unless it stopped reading: then it is cut off all the same.
    if (code && this.writer)
      await Promise.race([
        this.writer.write(fatal(code, text)).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, FATAL_WRITE_WAIT_MS).unref()),
      ]);
    // A statement still running is cancelled, not left to finish after the end.
    if (this.expected.some((item) => 'recorded' in item && item.recorded) && reason !== 'upstream_closed')
      await Promise.race([
        this.options.cancelUpstream().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, CANCEL_WAIT_MS).unref()),
      ]);
    this.upstream.socket.removeAllListeners('close');
    this.upstream.socket.destroy();
    this.clientSocket.destroy();
    this.reader?.cancel().catch(() => undefined);
    // Statements the end cut before their answer: on the record as cut.
    for (const item of this.expected.splice(0)) {
      if ('recorded' in item && item.recorded) this.recordDone(item.recorded, { cut: true });
    }
    // Records under way land first: the end follows the last statement on the chain.
    while (this.recording.size > 0) await Promise.allSettled([...this.recording]);
    const summary: SessionSummary = {
      reason,
      statements: this.count,
      refused: this.refusedCount,
      rows: this.rows,
      inTransaction,
    };
    const grant = this.options.grant;
    const ended: AuditEventInput = {
      actor: 'system',
      action: 'gateway.session_ended',
      subject: this.options.id,
      body: {
        grant: grant.id,
        resource: grant.resourceId,
        reason,
        statements: summary.statements,
        refused: summary.refused,
        rows: summary.rows,
        duration_ms: Date.now() - this.started,
        in_transaction: inTransaction,
      },
    };
    await this.recordEnd(summary, ended);
    this.options.onEnded(summary);
  }

  /**
   * Puts the end on the record once: tried again while the database cannot be reached, as
   * long as the gateway runs. The row is changed only while open, with the event in the same
   * transaction, so a session the reaper already ended is not recorded again; a gateway that
   * stops before it could record leaves the end to the reaper (`replica_lost`).
   */
  private async recordEnd(summary: SessionSummary, ended: AuditEventInput): Promise<void> {
    const sessionId = this.options.id;
    for (;;) {
      try {
        // Outcomes queued for the group commit go first: the end comes after them on the chain.
        await this.options.recorder.commitQueued();
        const recorded = await this.options.recordEnd(summary, ended);
        if (!recorded)
          this.options.log.info({ sessionId }, 'a gateway session ended here was already ended on the record');
        return;
      } catch (err) {
        if (!this.options.keepTrying()) {
          this.options.log.error(
            { err, sessionId },
            'a gateway session end could not be recorded; the lost-session sweep will end it on the record',
          );
          return;
        }
        this.options.log.warn({ err, sessionId }, 'a gateway session end could not be recorded yet; trying again');
        await new Promise((resolve) => setTimeout(resolve, END_RETRY_MS));
      }
    }
  }

  /** Counts a record under way, for finish() to wait on. */
  private track<T>(record: Promise<T>): Promise<T> {
    this.recording.add(record);
    void record.finally(() => this.recording.delete(record)).catch(() => undefined);
    return record;
  }

  private async readClient(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.reader!.read();
        if (done) break;
        const out: Buffer[] = [];
        for (const message of this.framer.push(value)) {
          const type = message[0];
          if (type === FRONTEND.Terminate) {
            await this.end('client_closed', '');
            return;
          }
          // A statement about to run: what is queued goes first, then the record is committed, then it is sent.
          const replacement = await this.handle(message, out);
          out.push(replacement ?? message);
        }
        // Backpressure: a database slower than the client holds the client's next chunk, not our memory.
        if (out.length > 0 && !this.ended && !this.upstream.socket.write(Buffer.concat(out)))
          await drainedOrClosed(this.upstream.socket);
      }
      await this.end('client_closed', '');
    } catch (err) {
      this.options.log.warn({ err, sessionId: this.options.id }, 'a gateway session ended on a protocol error');
      await this.end('client_closed', '');
    }
  }

  /**
   * Decides one client message: returns a replacement for a refused one, or undefined to
   * send it as it is. Statements wait here for their record.
   */
  private async handle(message: Buffer, queued: Buffer[]): Promise<Buffer | undefined> {
    switch (message[0]) {
      case FRONTEND.Query: {
        const sql = readQuery(message);
        // A simple query destroys the unnamed statement and portal (PostgreSQL's protocol, "Extended Query").
        this.statements.delete('');
        this.portals.delete('');
        const recorded = await this.recordStatement({ via: 'simple', ...sqlForRecord(sql) }, sql, queued);
        if ('refusal' in recorded) {
          this.expected.push({ kind: 'query', recorded: null });
          return serialize.query(raising(recorded.refusal));
        }
        this.expected.push({ kind: 'query', recorded: recorded.item });
        return undefined;
      }
      case FRONTEND.Parse: {
        const parse = readParse(message);
        this.expected.push({ kind: 'parse', name: parse.name, previous: this.statements.get(parse.name) });
        const { refusal, facts } = judge(parse.sql, this.options.limits, this.options.grant.resourceName);
        // A name already prepared keeps its upstream name, so the database refuses the Parse
        // as it would have (or, if it was dropped by SQL, takes it: the gateway follows either way).
        const upstream =
          parse.name === '' ? '' : (this.statements.get(parse.name)?.upstream ?? `gatehouse_s${++this.names}`);
        this.statements.set(parse.name, { sql: parse.sql, refused: refusal !== null, facts, upstream });
        if (!refusal) return withNames(message, 0, [upstream]);
        await this.refuse(refusal, { ...sqlForRecord(parse.sql), ...facts }, parse.sql, queued);
        return serialize.parse({ name: upstream, text: raising(refusal), types: [] });
      }
      case FRONTEND.Bind: {
        const bind = readBind(message);
        this.expected.push({ kind: 'bind', name: bind.portal, previous: this.portals.get(bind.portal) });
        const statement = this.statements.get(bind.statement);
        const upstream =
          bind.portal === '' ? '' : (this.portals.get(bind.portal)?.upstream ?? `gatehouse_p${++this.names}`);
        if (!statement) {
          // Not parsed here (a name from SQL PREPARE, or closed): the database says it does not exist.
          this.portals.delete(bind.portal);
          return withNames(message, 0, [upstream, NO_SUCH_NAME]);
        }
        this.portals.set(bind.portal, {
          sql: statement.sql,
          facts: statement.facts,
          params: bind.params,
          refused: statement.refused,
          statement: bind.statement,
          upstream,
        });
        // The raising statement takes no parameters.
        return statement.refused
          ? serialize.bind({ portal: upstream, statement: statement.upstream, values: [] })
          : withNames(message, 0, [upstream, statement.upstream]);
      }
      case FRONTEND.Execute: {
        const { portal } = readExecute(message);
        const bound = this.portals.get(portal);
        if (!bound || bound.refused) {
          // Nothing runs: no such portal here (the database says so), or the refusal raising,
          // recorded when its Parse was refused.
          this.expected.push({ kind: 'execute', recorded: null });
          return withNames(message, 0, [bound?.upstream ?? NO_SUCH_NAME]);
        }
        const recorded = await this.recordStatement(
          {
            via: 'extended',
            ...sqlForRecord(bound.sql),
            ...bound.facts,
            statement: bound.statement,
            ...paramsForRecord(bound.params, this.options.limits.parameters),
          },
          null,
          queued,
        );
        if ('refusal' in recorded) {
          // Only the record failing refuses here (the statement was checked at its Parse):
          // the refusal raises under names of the gateway's own, each answer expected.
          const n = ++this.names;
          this.expected.push(
            { kind: 'parse', name: null, previous: undefined },
            { kind: 'bind', name: null, previous: undefined },
            { kind: 'execute', recorded: null },
          );
          return Buffer.concat([
            serialize.parse({ name: `gatehouse_r${n}`, text: raising(recorded.refusal), types: [] }),
            serialize.bind({ portal: `gatehouse_r${n}`, statement: `gatehouse_r${n}` }),
            serialize.execute({ portal: `gatehouse_r${n}` }),
          ]);
        }
        this.expected.push({ kind: 'execute', recorded: recorded.item });
        return withNames(message, 0, [bound.upstream]);
      }
      case FRONTEND.FunctionCall: {
        const call = readFunctionCall(message);
        const { limits } = this.options;
        // A call by number cannot be judged like a statement: refused where there are limits,
        // and set_config always (it could change the settings the gateway reads statements by).
        const refusal: Refusal | null =
          call.oid === SET_CONFIG_OID
            ? {
                rule: 'session_settings',
                reason: 'set_config by function call is not allowed through the Gatehouse gateway: it was not run',
              }
            : limits.readOnly || limits.refuse.length > 0
              ? {
                  rule: 'function_call',
                  reason: `${this.options.grant.resourceName} has limits, and function calls by number cannot be checked against them: it was not run`,
                }
              : null;
        const recorded = refusal
          ? { refusal: await this.refuse(refusal, { function_oid: call.oid }, `function call ${call.oid}`, queued) }
          : await this.recordStatement(
              {
                via: 'function_call',
                function_oid: call.oid,
                ...paramsForRecord(call.args, this.options.limits.parameters),
              },
              null,
              queued,
            );
        if ('refusal' in recorded) {
          this.expected.push({ kind: 'function_call', recorded: null });
          return serialize.query(raising(recorded.refusal));
        }
        this.expected.push({ kind: 'function_call', recorded: recorded.item });
        return undefined;
      }
      case FRONTEND.Describe: {
        const target = readTarget(message);
        const known = target.kind === 'S' ? this.statements.get(target.name) : this.portals.get(target.name);
        this.expected.push({ kind: 'describe' });
        return withNames(message, 1, [target.name === '' ? '' : (known?.upstream ?? NO_SUCH_NAME)]);
      }
      case FRONTEND.Close: {
        const target = readTarget(message);
        const names = target.kind === 'S' ? this.statements : this.portals;
        const known = names.get(target.name);
        names.delete(target.name);
        this.expected.push({ kind: 'close', target: target.kind, name: target.name, previous: known });
        return withNames(message, 1, [target.name === '' ? '' : (known?.upstream ?? NO_SUCH_NAME)]);
      }
      case FRONTEND.Sync:
        this.expected.push({ kind: 'sync' });
        return undefined;
      default:
        // Flush, CopyData, CopyDone, CopyFail: relayed as they are.
        return undefined;
    }
  }

  /**
   * Puts a statement on the record before it runs. Returns the refusal instead when the
   * limits refuse it (`sql` given: a simple query, checked here) or the record cannot be
   * committed. What is queued to send is sent first, so the database sees messages in order.
   */
  private async recordStatement(
    body: Record<string, unknown>,
    sql: string | null,
    queued: Buffer[],
  ): Promise<{ item: Recorded } | { refusal: Refusal }> {
    if (sql !== null) {
      const { refusal, facts } = judge(sql, this.options.limits, this.options.grant.resourceName);
      if (refusal) return { refusal: await this.refuse(refusal, { ...sqlForRecord(sql), ...facts }, sql, queued) };
      body = { ...body, ...facts };
    }
    // Ending: nothing more goes on the record (its end comes after the last statement), nor runs.
    if (!this.ended && this.options.lost()) void this.end('replica_lost', LOST_TEXT);
    if (this.ended) return { refusal: SESSION_ENDING };
    this.flushQueued(queued);
    const n = ++this.count;
    try {
      await this.track(
        this.options.recorder.append({
          actor: this.options.grant.userId,
          action: 'gateway.statement',
          subject: this.options.id,
          body: fitted({ grant: this.options.grant.id, n, ...body }),
        }),
      );
      this.committed.statements += 1;
    } catch (err) {
      this.count -= 1;
      gatewayStatements.inc({ resource: this.options.grant.resourceId, outcome: 'unrecorded' });
      this.options.log.error(
        { err, sessionId: this.options.id },
        'a statement was refused: the audit log could not record it',
      );
      return {
        refusal: {
          rule: 'audit_unavailable',
          reason: 'Gatehouse could not record this statement in the audit log, so it was not run; try again shortly',
        },
      };
    }
    gatewayStatements.inc({ resource: this.options.grant.resourceId, outcome: 'recorded' });
    return { item: { n, started: performance.now(), rows: 0, tags: [] } };
  }

  /**
   * Records a refusal (best effort: the statement is refused either way) and has the audit
   * channel told. `what` is the record's view of it (its text, or a function's number);
   * `shown` the text for the channel.
   */
  private async refuse(
    refusal: Refusal,
    what: Record<string, unknown>,
    shown: string,
    queued: Buffer[],
  ): Promise<Refusal> {
    if (!this.ended && this.options.lost()) void this.end('replica_lost', LOST_TEXT);
    if (this.ended) return refusal;
    this.flushQueued(queued);
    const n = ++this.count;
    this.refusedCount += 1;
    gatewayStatements.inc({ resource: this.options.grant.resourceId, outcome: 'refused' });
    try {
      await this.track(
        this.options.recorder.append({
          actor: this.options.grant.userId,
          action: 'gateway.statement_refused',
          subject: this.options.id,
          body: fitted({
            grant: this.options.grant.id,
            resource: this.options.grant.resourceId,
            n,
            ...what,
            rule: refusal.rule,
            reason: refusal.reason,
          }),
        }),
      );
      this.committed.statements += 1;
      this.committed.refused += 1;
      await this.options.onRefused(n, refusal, shown);
    } catch (err) {
      this.options.log.error({ err, sessionId: this.options.id }, 'a refused statement could not be recorded');
    }
    return refusal;
  }

  private flushQueued(queued: Buffer[]): void {
    if (queued.length === 0) return;
    this.upstream.socket.write(Buffer.concat(queued.splice(0)));
  }

  private fromDatabase(chunk: Buffer): void {
    const writer = this.writer;
    if (!writer) return;
    // The database ending the connection (a revoke terminating the grant's sessions, an
    // administrator): held back, so the client hears why from the gateway when the socket
    // closes ("your access … ended at …") rather than "terminating connection due to
    // administrator command", whichever of the two gets there first.
    const farewell = terminationNotice(chunk);
    if (farewell !== null && !this.ended) {
      this.farewell = farewell;
      this.observeAll(chunk);
      return;
    }
    if (this.ended) {
      // Ending: the client is told no more, but an answer that comes now still closes its
      // statement as done (it ran), not cut.
      this.observeAll(chunk);
      return;
    }
    // Backpressure: a client slower than the database (a large result) pauses the database's
    // socket. The web stream's own queue counts chunks, not bytes, so the bytes not yet
    // handed to the client's socket are counted here.
    this.unsent += chunk.length;
    writer.write(chunk).then(
      () => {
        this.unsent -= chunk.length;
        if (this.unsent <= RESUME_BYTES && this.upstream.socket.isPaused()) this.upstream.socket.resume();
      },
      () => undefined,
    );
    if (this.unsent > PAUSE_BYTES && !this.upstream.socket.isPaused()) this.upstream.socket.pause();
    this.observeAll(chunk);
  }

  private observeAll(chunk: Buffer): void {
    try {
      this.parser.parse(chunk, (message) => this.observe(message));
    } catch (err) {
      this.options.log.warn({ err, sessionId: this.options.id }, 'could not read an answer from the database');
    }
  }

  /** Follows the database's answers to close each recorded statement with its outcome. */
  private observe(message: BackendMessage): void {
    const m = message as BackendMessage & Record<string, unknown>;
    const head = this.expected[0];
    const recorded = head && 'recorded' in head ? head.recorded : null;
    switch (message.name) {
      case 'dataRow':
        if (recorded) recorded.rows += 1;
        return;
      case 'commandComplete':
      case 'emptyQuery':
      case 'portalSuspended': {
        const tag =
          message.name === 'commandComplete' ? String(m.text) : message.name === 'emptyQuery' ? '' : 'suspended';
        if (!head) return;
        if (head.kind === 'query' || head.kind === 'function_call') recorded?.tags.push(tag);
        else if (head.kind === 'execute') {
          this.expected.shift();
          if (recorded) {
            recorded.tags.push(tag);
            this.recordDone(recorded, {});
          }
        }
        return;
      }
      case 'error': {
        const text = String((m as unknown as Error).message ?? '');
        // pg-protocol does not know FunctionCallResponse ('V'): it is a function call's answer.
        if (text.startsWith('received invalid response: 56')) {
          if (head?.kind === 'function_call') recorded?.tags.push('function call');
          return;
        }
        const error = { code: String(m.code ?? ''), message: cut(text, MAX_RECORDED_ERROR) };
        if (!head) return;
        if (head.kind === 'query' || head.kind === 'function_call') {
          if (recorded) recorded.error = error;
          return;
        }
        // An error at a Sync (a deferred constraint at commit): its ReadyForQuery follows.
        if (head.kind === 'sync') return;
        // Extended protocol: this message failed, and the database skips what follows up to
        // the Sync (some of it maybe not sent yet): undone when the Sync's ReadyForQuery comes.
        if (recorded) {
          recorded.error = error;
          this.recordDone(recorded, {});
        }
        this.undo([this.expected.shift()!]);
        return;
      }
      case 'parseComplete':
      case 'bindComplete':
      case 'closeComplete':
        this.expected.shift();
        return;
      case 'noData':
      case 'rowDescription':
        if (head?.kind === 'describe') this.expected.shift();
        return;
      case 'parameterStatus': {
        // A pinned setting changed after all (a way the rules did not foresee): the gateway
        // would read the next statement differently from PostgreSQL, so the session ends.
        const name = String(m.parameterName);
        if (name in PINNED_SETTINGS && m.parameterValue !== PINNED_SETTINGS[name])
          void this.end(
            'setting_changed',
            `${name} changed in this session, which the Gatehouse gateway does not allow`,
          );
        return;
      }
      case 'readyForQuery': {
        this.status = String(m.status);
        if (head && (head.kind === 'query' || head.kind === 'function_call')) {
          this.expected.shift();
          if (recorded) this.recordDone(recorded, {});
          return;
        }
        // Everything before the Sync that got no answer was skipped after an error.
        const skipped: Expected[] = [];
        while (this.expected.length > 0 && this.expected[0]!.kind !== 'sync') skipped.push(this.expected.shift()!);
        for (const item of skipped)
          if ('recorded' in item && item.recorded) this.recordDone(item.recorded, { skipped: true });
        this.undo(skipped);
        if (this.expected[0]?.kind === 'sync') this.expected.shift();
        return;
      }
      default:
        return;
    }
  }

  /** Parses, Binds and Closes that did not happen: their names mean what they meant before, latest first. */
  private undo(items: Expected[]): void {
    for (const item of [...items].reverse()) {
      if (item.kind === 'parse' && item.name !== null) restore(this.statements, item.name, item.previous);
      if (item.kind === 'bind' && item.name !== null) restore(this.portals, item.name, item.previous);
      if (item.kind === 'close' && item.target === 'S')
        restore(this.statements, item.name, item.previous as Prepared | undefined);
      if (item.kind === 'close' && item.target === 'P')
        restore(this.portals, item.name, item.previous as Portal | undefined);
    }
  }

  private recordDone(recorded: Recorded, extra: { cut?: boolean; skipped?: boolean }): void {
    const rows = recorded.tags.reduce((sum, tag) => sum + rowsOf(tag), 0) || recorded.rows;
    this.rows += rows;
    const outcome = recorded.error
      ? { ok: false, error: recorded.error }
      : extra.cut || extra.skipped
        ? { ok: false, ...extra }
        : { ok: true, tag: recorded.tags.length === 1 ? recorded.tags[0] : recorded.tags.join('; ') };
    this.options.recorder.appendLater({
      actor: this.options.grant.userId,
      action: 'gateway.statement_done',
      subject: this.options.id,
      body: {
        grant: this.options.grant.id,
        n: recorded.n,
        ...outcome,
        rows,
        duration_ms: Math.round((performance.now() - recorded.started) * 1000) / 1000,
      },
    });
  }
}

/**
 * The text of a chunk that is exactly one FATAL ErrorResponse with SQLSTATE 57P01
 * (admin_shutdown: pg_terminate_backend, a shutdown), which the database sends just before
 * it closes the connection; null for anything else.
 */
export function terminationNotice(chunk: Buffer): string | null {
  if (chunk.length < 5 || chunk[0] !== 0x45 /* E */ || chunk.readInt32BE(1) + 1 !== chunk.length) return null;
  const fields = new Map<string, string>();
  let at = 5;
  while (at < chunk.length && chunk[at] !== 0) {
    const type = String.fromCharCode(chunk[at]!);
    const end = chunk.indexOf(0, at + 1);
    if (end < 0) return null;
    fields.set(type, chunk.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return fields.get('V') === 'FATAL' && fields.get('C') === '57P01' ? (fields.get('M') ?? null) : null;
}
