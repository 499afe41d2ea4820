/**
 * Database activity through the real gateway reaches the watcher: what a contractor does in
 * psql is recorded with its classes and tables, and the watcher raises the alerts the
 * policy asks for, with the statements' seqs as evidence.
 */
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../src/audit/audit-log.ts';
import { canonicalJson } from '../src/audit/event.ts';
import { silentLogger } from '../src/log.ts';
import { Watcher } from '../src/watch/watcher.ts';
import { PEOPLE } from './support/access.ts';
import { psql, startGatewayWorld, type GatewayWorld } from './support/gateway.ts';

describe('alerts on database activity through the gateway', () => {
  let world: GatewayWorld;
  let watcher: Watcher;

  beforeAll(async () => {
    world = await startGatewayWorld();
    await world.t.audit.flush();
    // From here on: what came before (the world's setup) is not this test's.
    await world.t.query(`update watch_state set cursor_seq = (select coalesce(max(seq), 0) from audit_events)`);
    watcher = new Watcher({
      db: world.t.db,
      audit: world.t.audit as unknown as AuditLog,
      policy: () => world.service.ctx.policy().policy,
      cue: new EventEmitter(),
      log: silentLogger(),
      now: () => new Date(),
    });
  });
  afterAll(async () => {
    await watcher.stop();
    await world.destroy();
  });

  async function watchAll(): Promise<void> {
    await world.t.audit.flush();
    while ((await watcher.round()) > 0);
  }

  async function alertsOf(session: string) {
    const { rows } = await world.t.query<{ detector: string; severity: string; evidence: string[]; title: string }>(
      `select detector, severity, evidence, title from alerts where session_id = $1 order by detector`,
      [session],
    );
    return rows;
  }

  it('flags a sensitive table, a big read, a refused statement and a role change, each once, with its statement as evidence', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    await psql(credentials, ['-c', 'select 1']);
    await psql(credentials, ['-c', 'select id, total from invoices order by id']);
    await psql(credentials, ['-c', 'select id from public.invoices where id = 1']);
    await expect(psql(credentials, ['-c', 'set role postgres'])).rejects.toThrow(/not allowed/);
    await expect(psql(credentials, ['-c', 'create table scratch (id int)'])).rejects.toThrow(/not allowed/);
    const { rows: sessions } = await world.t.query<{ id: string }>(
      `select id from gateway_sessions where grant_id = $1 order by started_at`,
      [grantId],
    );
    for (const { id } of sessions) await world.gateway.sessionEnded(id);
    await watchAll();

    const [plain, invoices, one, role, ddl] = sessions.map((s) => s.id);
    expect(await alertsOf(plain!)).toEqual([]);
    // Two rows back: at the threshold (2), not over it; the table is sensitive.
    const read = await alertsOf(invoices!);
    expect(read.map((a) => a.detector)).toEqual(['db_sensitive_table']);
    expect(read[0]!.title).toBe('Read or changed public.invoices on Billing database');
    const { rows: evidence } = await world.t.query<{ body: { tables: string[]; sql: string } }>(
      `select body from audit_log where seq = $1`,
      [read[0]!.evidence[0]],
    );
    expect(evidence[0]!.body).toMatchObject({
      tables: ['invoices'],
      sql: 'select id, total from invoices order by id',
    });
    expect((await alertsOf(one!)).map((a) => a.detector)).toEqual(['db_sensitive_table']);
    expect((await alertsOf(role!)).map((a) => [a.detector, a.severity])).toEqual([
      ['db_refused', 'warning'],
      ['db_role_change', 'high'],
    ]);
    expect((await alertsOf(ddl!)).map((a) => a.detector)).toEqual(['db_refused']);
  });

  it('flags a read over the row threshold', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    await world.target.query(`insert into invoices values (3, 1, 'third') on conflict do nothing`);
    await psql(credentials, ['-c', 'select 1 from generate_series(1, 3)']);
    const { rows } = await world.t.query<{ id: string }>(`select id from gateway_sessions where grant_id = $1`, [
      grantId,
    ]);
    await world.gateway.sessionEnded(rows[0]!.id);
    await watchAll();
    expect(await alertsOf(rows[0]!.id)).toMatchObject([{ detector: 'db_rows', title: 'A statement returned 3 rows' }]);
  });

  it('raises the highest severity for a statement recorded after the grant ended', async () => {
    const { grantId, credentials } = await world.grant('billing-db');
    await psql(credentials, ['-c', 'select 1']);
    const { rows } = await world.t.query<{ id: string }>(`select id from gateway_sessions where grant_id = $1`, [
      grantId,
    ]);
    const session = rows[0]!.id;
    await world.gateway.sessionEnded(session);
    await world.service.release(grantId, PEOPLE.ana);
    // What the gateway never does: a statement of that session on the record after the end.
    await world.t.query(
      `insert into audit_queue (occurred_at, actor, action, subject, body) values (now() + interval '3 seconds', $1, 'gateway.statement', $2, $3)`,
      [PEOPLE.ana, session, canonicalJson({ grant: grantId, n: 2, via: 'simple', sql: 'select * from invoices' })],
    );
    await watchAll();
    expect((await alertsOf(session)).map((a) => [a.detector, a.severity])).toContainEqual(['db_after_end', 'critical']);
  });
});
