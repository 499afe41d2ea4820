/**
 * The gateway's part of the benchmark's stream: sessions on the live grants, each running
 * statements one at a time, recorded as src/gateway/session.ts records them (the statement
 * before it runs, its outcome with the next one), starting and ending as people come and go.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEventInput } from '../src/audit/event.ts';
import type { LiveGrant, World } from './alerts-world.ts';

/** The stream's dice: the same throws on every run. */
export interface Dice {
  /** In [0, 1). */
  next(): number;
  /** A whole number in [0, n). */
  int(n: number): number;
}

type Emit = (event: AuditEventInput<string>) => void;

/** Sessions open at once besides the seeded long-running ones; each ending one is replaced. */
export const CHURNING_SESSIONS = 20;
/** In one session in this many, a person looks customers up: the sensitive table, now and then. */
const SUPPORT_SESSION_EVERY = 10;
/** A statement returning more rows than the threshold (a bulk export), one in this many. */
const BULK_EXPORT_EVERY = 100_000;

interface Statement {
  sql: string;
  classes?: string[];
  tables: string[];
  tag: string;
  rows: number;
  params: number;
}

const STATEMENTS: readonly Statement[] = [
  {
    sql: 'SELECT id, status, total_cents, created_at FROM public.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20',
    tables: ['public.orders'],
    tag: 'SELECT 20',
    rows: 20,
    params: 1,
  },
  {
    sql: 'SELECT o.id, i.sku, i.quantity, i.price_cents FROM public.orders o JOIN public.order_items i ON i.order_id = o.id WHERE o.id = $1',
    tables: ['public.order_items', 'public.orders'],
    tag: 'SELECT 4',
    rows: 4,
    params: 1,
  },
  {
    sql: 'UPDATE public.orders SET status = $1, updated_at = now() WHERE id = $2',
    classes: ['dml'],
    tables: ['public.orders'],
    tag: 'UPDATE 1',
    rows: 1,
    params: 2,
  },
  {
    sql: 'SELECT count(*) FROM public.shipments WHERE carrier = $1 AND shipped_at > now() - interval $2',
    tables: ['public.shipments'],
    tag: 'SELECT 1',
    rows: 1,
    params: 2,
  },
  {
    sql: 'INSERT INTO public.order_notes (order_id, author, note) VALUES ($1, $2, $3)',
    classes: ['dml'],
    tables: ['public.order_notes'],
    tag: 'INSERT 0 1',
    rows: 1,
    params: 3,
  },
];
const LOOKUP: Statement = {
  sql: 'SELECT id, email, phone FROM public.customers WHERE id = $1',
  tables: ['public.customers'],
  tag: 'SELECT 1',
  rows: 1,
  params: 1,
};
const EXPORT: Statement = {
  sql: 'SELECT * FROM public.orders WHERE created_at > $1',
  tables: ['public.orders'],
  tag: 'SELECT 25000',
  rows: 25_000,
  params: 1,
};
const REFUSED = {
  sql: 'DELETE FROM public.orders WHERE created_at < $1',
  classes: ['dml'],
  tables: ['public.orders'],
  rule: 'read_only',
  reason: 'this grant is read-only: statements that change data are not allowed, and it was not run',
};

/** Parameters are recorded as their hashes (the gateway's default); a few made once. */
const PARAM_HASHES = Array.from({ length: 64 }, () => randomBytes(32).toString('hex'));

interface Session {
  id: string;
  grant: LiveGrant;
  n: number;
  rows: number;
  support: boolean;
  started: number;
  /** The last statement, whose outcome goes with the next event of this session. */
  pending: { n: number; tag: string; rows: number } | null;
}

export class GatewaySessions {
  private readonly sessions: Session[] = [];
  /** Sessions opened before the first batch: announced in it. */
  private unannounced: Session[];
  private count = 0;

  /** `tag` keeps the ids of two streams on one database apart. */
  constructor(
    private readonly world: World,
    private readonly tag: string,
    private readonly dice: Dice,
  ) {
    // The seeded sessions began before the run: no session_started of theirs is on the chain.
    for (const open of world.openSessions)
      this.sessions.push({ ...this.fresh(open.id, open.grant), n: 1_000, started: Date.now() - 600_000 });
    for (let i = 0; i < CHURNING_SESSIONS; i++) this.sessions.push(this.fresh(this.nextId(), this.liveGrant()));
    this.unannounced = this.sessions.slice(world.openSessions.length);
  }

  /** Announces the sessions opened at the start (once). */
  announce(emit: Emit): void {
    for (const session of this.unannounced.splice(0)) emit(this.started(session));
  }

  /** One statement of a random session, after its previous statement's outcome. */
  statement(emit: Emit): void {
    const session = this.any();
    this.outcome(session, emit);
    const kind =
      this.dice.int(BULK_EXPORT_EVERY) === 0
        ? EXPORT
        : session.support && this.dice.int(50) === 0
          ? LOOKUP
          : STATEMENTS[this.dice.int(STATEMENTS.length)]!;
    const n = ++session.n;
    const params = Array.from({ length: kind.params }, () => PARAM_HASHES[this.dice.int(PARAM_HASHES.length)]!);
    emit({
      actor: session.grant.user,
      action: 'gateway.statement',
      subject: session.id,
      body: {
        grant: session.grant.id,
        n,
        via: 'extended',
        sql: kind.sql,
        statement: '',
        ...(kind.classes ? { classes: kind.classes } : {}),
        tables: kind.tables,
        params_sha256: params,
      },
    });
    session.pending = { n, tag: kind.tag, rows: kind.rows };
  }

  /** A statement the gateway refuses (the grant is read-only). */
  refused(emit: Emit): void {
    const session = this.any();
    this.outcome(session, emit);
    emit({
      actor: session.grant.user,
      action: 'gateway.statement_refused',
      subject: session.id,
      body: { grant: session.grant.id, resource: session.grant.resource.id, n: ++session.n, ...REFUSED },
    });
  }

  /** One of the churning sessions ends and another starts. */
  churn(emit: Emit): void {
    const at = this.world.openSessions.length + this.dice.int(CHURNING_SESSIONS);
    const ending = this.sessions[at]!;
    this.outcome(ending, emit);
    emit({
      actor: 'system',
      action: 'gateway.session_ended',
      subject: ending.id,
      body: {
        grant: ending.grant.id,
        resource: ending.grant.resource.id,
        reason: 'client_closed',
        statements: ending.n,
        refused: 0,
        rows: ending.rows,
        duration_ms: Date.now() - ending.started,
        in_transaction: false,
      },
    });
    const next = this.fresh(this.nextId(), this.liveGrant());
    this.sessions[at] = next;
    emit(this.started(next));
  }

  /** A live grant of the churning sessions (the seeded open sessions keep theirs to themselves). */
  liveGrant(): LiveGrant {
    const grants = this.world.liveGrants.slice(this.world.openSessions.length);
    return grants[this.dice.int(grants.length)]!;
  }

  private any(): Session {
    return this.sessions[this.dice.int(this.sessions.length)]!;
  }

  private nextId(): string {
    return `ses_${this.tag}_${++this.count}`;
  }

  private fresh(id: string, grant: LiveGrant): Session {
    const support = grant.resource.sensitive !== null && this.dice.int(SUPPORT_SESSION_EVERY) === 0;
    return { id, grant, n: 0, rows: 0, support, started: Date.now(), pending: null };
  }

  private started(session: Session): AuditEventInput<string> {
    return {
      actor: session.grant.user,
      action: 'gateway.session_started',
      subject: session.id,
      body: {
        grant: session.grant.id,
        resource: session.grant.resource.id,
        database: session.grant.resource.id.replace('-db', ''),
        role: `gh_${session.grant.id}`,
        client_address: `10.1.${this.dice.int(200)}.${this.dice.int(250)}`,
        application_name: session.support ? 'psql' : 'order-sync',
        tls: true,
        replica: 'gatehouse-0',
      },
    };
  }

  /** The outcome of the session's last statement, if one is waiting. */
  private outcome(session: Session, emit: Emit): void {
    const last = session.pending;
    if (!last) return;
    session.pending = null;
    const failed = this.dice.int(500) === 0;
    emit({
      actor: session.grant.user,
      action: 'gateway.statement_done',
      subject: session.id,
      body: failed
        ? {
            grant: session.grant.id,
            n: last.n,
            ok: false,
            error: { code: '40001', message: 'could not serialize access due to concurrent update' },
            rows: 0,
            duration_ms: 3.912,
          }
        : {
            grant: session.grant.id,
            n: last.n,
            ok: true,
            tag: last.tag,
            rows: last.rows,
            duration_ms: Math.round(this.dice.next() * 4_000) / 1_000,
          },
    });
    session.rows += last.rows;
  }
}
