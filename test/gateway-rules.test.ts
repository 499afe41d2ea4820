import { beforeAll, describe, expect, it } from 'vitest';
import { loadStatementParser, refusalFor } from '../src/gateway/classify.ts';
import { gatewayConfigOf, type GatewayLimits } from '../src/provisioners/postgres-gateway.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { gatewayPolicy } from './support/gateway.ts';

const strict: GatewayLimits = {
  readOnly: true,
  refuse: ['ddl', 'dml', 'copy', 'copy_program', 'alter_system', 'set_role', 'do'],
  parameters: 'hash',
};
const rule = (sql: string, limits: GatewayLimits = strict) => refusalFor(sql, limits, 'Prod')?.rule ?? null;

describe('what the gateway refuses', () => {
  beforeAll(() => loadStatementParser());

  it('judges the parse tree, not the words: a keyword in a string or a comment changes nothing', () => {
    expect(rule(`select 'drop table users' as text -- alter system`)).toBe(null);
    expect(rule('select * from invoices where id = $1')).toBe(null);
    expect(rule('explain select 1')).toBe(null);
  });

  it('finds each class wherever it stands: alone, in a CTE, behind PREPARE or EXPLAIN ANALYZE, in a multi-statement string', () => {
    expect(rule('create index on invoices (id)')).toBe('ddl');
    expect(rule('select 1; drop table invoices')).toBe('ddl');
    expect(rule('select * into copy_of from invoices')).toBe(null); // a write, refused by read-only in the database
    expect(rule('with gone as (delete from invoices returning *) select count(*) from gone')).toBe('dml');
    expect(rule('prepare p as update invoices set total = 0')).toBe('dml');
    expect(rule('explain analyze insert into invoices values (9)')).toBe('dml');
    expect(rule(`copy invoices to stdout`)).toBe('copy');
    expect(rule(`copy invoices from program 'curl evil'`, { ...strict, refuse: ['copy_program'] })).toBe(
      'copy_program',
    );
    expect(rule('alter system set fsync = off')).toBe('alter_system');
    expect(rule('set role admin')).toBe('set_role');
    expect(rule('set session authorization admin')).toBe('set_role');
    expect(rule('do $$ begin end $$')).toBe('do');
  });

  it('keeps read-only sessions read-only, and lets read-only transactions be', () => {
    const readOnly: GatewayLimits = { readOnly: true, refuse: [], parameters: 'hash' };
    expect(rule('set default_transaction_read_only = off', readOnly)).toBe('read_only');
    expect(rule('set transaction read write', readOnly)).toBe('read_only');
    expect(rule('start transaction isolation level serializable, read write', readOnly)).toBe('read_only');
    expect(rule(`select pg_catalog.set_config('x', 'y', false)`, readOnly)).toBe('read_only');
    expect(rule('begin read only', readOnly)).toBe(null);
    expect(rule('begin', readOnly)).toBe(null);
  });

  it('refuses what it cannot read when there are limits to check, and leaves it to PostgreSQL when there are none', () => {
    expect(refusalFor('selec 1', strict, 'Prod')).toEqual({
      rule: 'unparsable',
      reason: 'Gatehouse could not read this statement, and Prod has limits it must check: it was not run',
    });
    expect(refusalFor('selec 1', { readOnly: false, refuse: [], parameters: 'record' }, 'Prod')).toBe(null);
  });

  it('reads a gateway block from the policy, with defaults, and names a wrong class with the ones allowed', () => {
    const policy = parsePolicy(gatewayPolicy('readers'), 'gatehouse.yml');
    expect(policy.resources.map((resource) => gatewayConfigOf(resource.provisioner)?.gateway)).toEqual([
      { readOnly: false, refuse: ['ddl', 'copy_program', 'alter_system', 'set_role'], parameters: 'record' },
      { readOnly: true, refuse: [], parameters: 'hash' },
    ]);
    expect(() =>
      parsePolicy(gatewayPolicy('readers').replace('refuse: [ddl,', 'refuse: [dll,'), 'gatehouse.yml'),
    ).toThrow(
      /resources\[0\]\.provisioner\.gateway\.refuse\[0\].*ddl, dml, copy, copy_program, alter_system, set_role, do/,
    );
  });
});
