import { serialize } from 'pg-protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadStatementParser, refusalFor } from '../src/gateway/classify.ts';
import { MAX_MESSAGE_BYTES, MessageFramer, ProtocolViolation } from '../src/gateway/frontend.ts';
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
    expect(rule('select * into temp copy_of from invoices')).toBe('ddl'); // it makes a table
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

  it("refuses what it cannot read, in the parser's words, limits or not", () => {
    const none: GatewayLimits = { readOnly: false, refuse: [], parameters: 'record' };
    for (const limits of [strict, none])
      expect(refusalFor('selec 1', limits, 'Prod')).toEqual({
        rule: 'unparsable',
        reason:
          'syntax error at or near "selec": Gatehouse reads every statement before it runs, and could not read this one, so it was not run',
      });
  });

  it("refuses on every resource what would get past the gateway: the role's own password, the settings it reads by", () => {
    const none: GatewayLimits = { readOnly: false, refuse: [], parameters: 'record' };
    expect(rule(`alter role current_user password 'mine now'`, none)).toBe('credentials');
    expect(rule(`alter user current_user set default_transaction_read_only = off`, none)).toBe('credentials');
    expect(rule('set client_encoding = sjis', none)).toBe('session_settings');
    expect(rule(`set names 'LATIN1'`, none)).toBe('session_settings');
    expect(rule('set standard_conforming_strings = off', none)).toBe('session_settings');
    expect(rule(`select set_config('standard_conforming_strings', 'off', false)`, none)).toBe('session_settings');
    expect(rule(`select set_config('standard_' || 'conforming_strings', 'off', false)`, none)).toBe('session_settings');
    expect(rule(`update pg_settings set setting = 'off' where name = 'standard_conforming_strings'`, none)).toBe(
      'session_settings',
    );
    expect(rule('reset client_encoding', none)).toBe(null); // back to what the gateway asked for
    expect(rule(`select set_config('application_name', 'psql', false)`, none)).toBe(null);
  });

  it('counts setting the role by function as SET ROLE', () => {
    const setRole: GatewayLimits = { readOnly: false, refuse: ['set_role'], parameters: 'hash' };
    expect(rule(`select set_config('role', 'admin', false)`, setRole)).toBe('set_role');
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

describe('how the gateway cuts messages from the stream', () => {
  const query = (text: string) => serialize.query(text);

  it('gives back whole messages however the bytes come: one at a time, or many messages in one chunk', () => {
    const bytes = Buffer.concat([query('select 1'), query('select 2'), serialize.sync()]);
    const byByte = new MessageFramer();
    const got = [...bytes].flatMap((byte) => byByte.push(Buffer.from([byte])));
    expect(got.map((message) => message.toString('hex'))).toEqual([
      query('select 1').toString('hex'),
      query('select 2').toString('hex'),
      serialize.sync().toString('hex'),
    ]);
    expect(new MessageFramer().push(bytes)).toHaveLength(3);
  });

  it('joins a large message once, from its chunks, and refuses one longer than it takes', () => {
    const big = query(`select '${'x'.repeat(8 * 1024 * 1024)}'`);
    const framer = new MessageFramer();
    const got: Buffer[] = [];
    for (let at = 0; at < big.length; at += 65_536) got.push(...framer.push(big.subarray(at, at + 65_536)));
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(big)).toBe(true);
    const header = Buffer.alloc(5);
    header.write('Q');
    header.writeInt32BE(MAX_MESSAGE_BYTES + 5, 1);
    expect(() => new MessageFramer().push(header)).toThrow(ProtocolViolation);
  });
});
