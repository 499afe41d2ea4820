/**
 * The events the latency runs time: each makes exactly one alert, and is timed from its
 * commit. DDL statements go the gateway's way (its GroupAppender), refusals the app's (its
 * audit log, as a Slack handler records one).
 */
import { GroupAppender } from '../src/audit/group-append.ts';
import type { Db } from '../src/db/database.ts';
import { silentLogger } from '../src/log.ts';
import type { World } from './alerts-world.ts';
import type { BenchGatehouse } from './bench-gatehouse.ts';

export type TriggerKind = 'ddl' | 'refusal_burst';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.timeOrigin + performance.now();

/** Makes the alerts: each trigger's commit, and how to find its alert afterwards. */
export class Triggers {
  /** Each trigger: its commit, and the start of its alert's incident key (the rest is the detector's). */
  readonly made: { kind: TriggerKind; committedAt: number; key: string }[] = [];
  private readonly recorder: GroupAppender;

  constructor(
    db: Db,
    private readonly app: BenchGatehouse,
    private readonly world: World,
    private readonly tag: string,
  ) {
    this.recorder = new GroupAppender(db, silentLogger());
  }

  /** The i-th trigger of `count`: the first half DDL statements, the rest the fifth refusal of a burst. */
  async fire(i: number, count: number, everyMs: number): Promise<void> {
    return i < count / 2 ? this.ddl(i, everyMs) : this.refusals(i, everyMs);
  }

  /** A session opens, and a little later runs DDL: db_ddl, once per session. */
  private async ddl(i: number, everyMs: number): Promise<void> {
    const grant = this.world.liveGrants.find((g) => g.resource.id === 'orders-db')!;
    const session = `ses_trigger_${this.tag}_${i}`;
    await this.recorder.append({
      actor: grant.user,
      action: 'gateway.session_started',
      subject: session,
      body: { grant: grant.id, resource: grant.resource.id, database: 'orders', role: `gh_${grant.id}`, tls: true },
    });
    await sleep(everyMs);
    await this.recorder.append({
      actor: grant.user,
      action: 'gateway.statement',
      subject: session,
      body: {
        grant: grant.id,
        n: 1,
        via: 'simple',
        sql: `CREATE INDEX orders_by_note_${i} ON public.orders (note)`,
        classes: ['ddl'],
        tables: ['public.orders'],
      },
    });
    this.made.push({ kind: 'ddl', committedAt: now(), key: `db_ddl:${session}:` });
  }

  /** Four refusals of one person, then the fifth within the window: refusal_burst. */
  private async refusals(i: number, everyMs: number): Promise<void> {
    const person = `U0P${this.tag.toUpperCase()}${String(i).padStart(6, '0')}`;
    const request = this.world.approvable[i % this.world.approvable.length]!;
    const refuse = () =>
      this.app.gatehouse.audit.record({
        actor: person,
        action: 'approval.refused',
        subject: request.id,
        body: { resource: request.resource.id, decision: 'approve', reason: 'not-approver' },
      });
    for (let n = 0; n < 4; n++) {
      await refuse();
      await sleep(everyMs / 4);
    }
    await refuse();
    this.made.push({ kind: 'refusal_burst', committedAt: now(), key: `refusal_burst:${person}:` });
  }

  close(): Promise<void> {
    return this.recorder.close();
  }
}
