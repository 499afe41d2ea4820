import { describe, expect, it } from 'vitest';
import type { GatewaySessionRow } from '../src/access/gateway-sessions.ts';
import type { AccessRequest, Grant } from '../src/access/types.ts';
import { GATEWAY_END_REASONS } from '../src/db/schema.ts';
import {
  ACTION,
  loginDM,
  appHome,
  endSessionAnswer,
  formatWhen,
  gatewaySessionEnded,
  gatewayStatementRefused,
  psqlCommand,
  type Message,
  type ShownSession,
} from '../src/slack/blocks/index.ts';
import { blockKitProblems, blockTexts } from '../src/sandbox/fake-slack/block-kit-limits.ts';

const T0 = new Date('2026-01-02T10:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const PROD = { id: 'prod-db', name: 'Production database' };

function aSession(overrides: Partial<GatewaySessionRow> = {}): GatewaySessionRow {
  return {
    id: 'ses_1',
    grant_id: 'grt_1',
    user_id: 'U0ALICE',
    resource_id: PROD.id,
    replica: 'gw-1',
    client_address: '10.0.0.7',
    application_name: 'psql',
    started_at: T0,
    seen_at: at(60_000),
    ended_at: null,
    end_reason: null,
    end_requested_at: null,
    end_requested_by: null,
    statements: 0,
    rows: '0',
    refused: 0,
    cancel_pid: 1,
    cancel_secret: 2,
    upstream_pid: null,
    upstream_secret: null,
    ...overrides,
  };
}

const shown = (overrides: Partial<GatewaySessionRow> = {}): ShownSession => ({
  session: aSession(overrides),
  resource: PROD,
});

function aGrant(): Grant {
  return {
    id: 'grt_1',
    requestId: 'req-1',
    userId: 'U0ALICE',
    resourceId: PROD.id,
    resourceName: PROD.name,
    status: 'active',
    startsAt: T0,
    endsAt: at(3_600_000),
    endedAt: null,
    endReason: null,
    lastError: null,
  };
}

const sectionTexts = (message: Message) =>
  message.blocks.flatMap((block) => (block.type === 'section' && block.text ? [block.text.text] : []));
const contextTexts = (message: Message) =>
  message.blocks.flatMap((block) =>
    block.type === 'context' ? block.elements.map((element) => ('text' in element ? element.text : '')) : [],
  );
type Node = Record<string, unknown>;
const nodes = (value: unknown): Node[] =>
  Array.isArray(value)
    ? value.flatMap(nodes)
    : typeof value === 'object' && value !== null
      ? [value as Node, ...Object.values(value).flatMap(nodes)]
      : [];
const buttons = (blocks: unknown) => nodes(blocks).filter((node) => node.type === 'button');

describe('the credentials message of a gateway grant', () => {
  const gateway = {
    host: 'gatehouse.example.com',
    port: '6432',
    database: 'billing',
    user: 'grt_7x3k',
    password: 's3cret-pass',
    sslmode: 'require',
  };

  it('adds a psql command without the password, and keeps the url line', () => {
    const message = loginDM(aGrant(), gateway);
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    const texts = sectionTexts(message);
    expect(texts).toContain(
      'To connect with `psql` (it asks for the password above):\n' +
        '```psql "host=gatehouse.example.com port=6432 dbname=billing user=grt_7x3k sslmode=require"```',
    );
    const login = texts.find((text) => text.startsWith('Your login'))!;
    expect(login).toContain('password: s3cret-pass\n');
    expect(login).toContain('url: postgresql://grt_7x3k:s3cret-pass@gatehouse.example.com:6432/billing');
    expect(texts.filter((text) => text.includes('s3cret-pass'))).toHaveLength(1);
    expect(message.text).not.toContain('s3cret-pass');
  });

  it('has no psql command for a login without sslmode (straight to the database)', () => {
    const { sslmode: _sslmode, ...direct } = gateway;
    expect(sectionTexts(loginDM(aGrant(), direct)).join('\n')).not.toContain('psql');
  });

  it('quotes values as libpq and the shell need', () => {
    // libpq reads user='o\'neil'; the shell's double quotes take \\ for one backslash.
    expect(psqlCommand({ host: 'db.local', dbname: 'my db', user: "o'neil", sslmode: 'disable' })).toBe(
      String.raw`psql "host=db.local dbname='my db' user='o\\'neil' sslmode=disable"`,
    );
    expect(psqlCommand({ dbname: 'a$b"c' })).toBe(String.raw`psql "dbname=a\$b\"c"`);
  });
});

describe("an owner's live sessions on the App Home", () => {
  const home = (liveSessions: ShownSession[] | null) =>
    appHome({ userId: 'U0BOB', grants: [], requests: [], approvalsWaiting: [], liveSessions, now: T0 });

  it('lists each with its holder, resource, start and client, and End session behind a confirmation', () => {
    const view = home([shown()]);
    expect(blockKitProblems('home', view.blocks, view as unknown as Node)).toEqual([]);
    const texts = blockTexts(view.blocks);
    expect(texts).toContain('Live database sessions');
    expect(texts).toContain(
      `🟢 <@U0ALICE> on *Production database* (\`prod-db\`)\nStarted ${formatWhen(T0)} · via psql from 10.0.0.7`,
    );
    expect(buttons(view.blocks).filter((b) => b.action_id === ACTION.endGatewaySession)).toEqual([
      {
        type: 'button',
        action_id: ACTION.endGatewaySession,
        text: { type: 'plain_text', text: 'End session', emoji: true },
        value: 'ses_1',
        style: 'danger',
        confirm: {
          title: { type: 'plain_text', text: 'End this session?', emoji: true },
          text: {
            type: 'plain_text',
            text: "Close this connection to Production database now? The holder's access is not ended: they can connect again until it ends.",
            emoji: true,
          },
          confirm: { type: 'plain_text', text: 'End session', emoji: true },
          deny: { type: 'plain_text', text: 'Keep it', emoji: true },
          style: 'danger',
        },
      },
    ]);
  });

  it('shows a session asked to end as ending, without the button', () => {
    const view = home([shown({ end_requested_at: at(5000), end_requested_by: 'U0BOB', application_name: null })]);
    expect(blockTexts(view.blocks)).toContain(
      `⏳ Ending <@U0ALICE>'s session on *Production database* (\`prod-db\`)… asked by <@U0BOB> ${formatWhen(at(5000))}\nStarted ${formatWhen(T0)} · from 10.0.0.7`,
    );
    expect(buttons(view.blocks).map((b) => b.action_id)).not.toContain(ACTION.endGatewaySession);
  });

  it('says when no one is connected, and leaves the section out for someone who owns no gateway resource', () => {
    expect(blockTexts(home([]).blocks)).toContain(
      'No one is connected to your databases through the gateway right now.',
    );
    expect(blockTexts(home(null).blocks)).not.toContain('Live database sessions');
  });

  it('escapes what the client chose to call itself', () => {
    const view = home([shown({ application_name: '<!channel> *x*', client_address: null })]);
    expect(blockTexts(view.blocks).join('\n')).toContain('· via &lt;!channel&gt; *x*');
  });

  it('stays within 100 blocks with 200 of everything and 200 sessions', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => i);
    const request = (id: string): AccessRequest => ({
      id,
      requester: 'U0ALICE',
      resourceId: PROD.id,
      resourceName: PROD.name,
      durationMs: 3_600_000,
      reason: 'x'.repeat(2000),
      status: 'pending',
      approvalsRequired: 2,
      approvals: [],
      createdAt: T0,
      expiresAt: at(3_600_000),
      decidedAt: null,
      decidedBy: null,
      denyReason: null,
      extendsGrantId: null,
    });
    const view = appHome({
      userId: 'U0BOB',
      grants: many(200).map((i) => ({ ...aGrant(), id: `grt_${i}` })),
      requests: many(200).map((i) => request(`req-${i}`)),
      approvalsWaiting: many(200).map((i) => request(`wait-${i}`)),
      mfa: { state: 'off', reEnrolling: false, enrolledAt: null, lockedUntil: null },
      liveSessions: many(200).map((i) => shown({ id: `ses_${i}` })),
      now: T0,
    });
    expect(view.blocks.length).toBe(100);
    expect(blockKitProblems('home', view.blocks, view as unknown as Node)).toEqual([]);
    const endButtons = buttons(view.blocks).filter((b) => b.action_id === ACTION.endGatewaySession);
    expect(endButtons.length).toBeGreaterThanOrEqual(6);
    expect(blockTexts(view.blocks).at(-1)).toBe(`…and ${200 - endButtons.length} more. The oldest are shown first.`);
  });
});

describe('the audit channel summary of a session', () => {
  const ended = (overrides: Partial<GatewaySessionRow> = {}) =>
    gatewaySessionEnded(
      shown({
        ended_at: at(12 * 60_000 + 3_400),
        end_reason: 'client_closed',
        statements: 14,
        rows: '1203',
        refused: 1,
        ...overrides,
      }),
    );

  it('says who, where, how long, how much and how it ended, in one post', () => {
    const message = ended();
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    expect(message.text).toBe(
      '⚪ Database session of <@U0ALICE> on Production database ended (closed by the client): 12m3s, 14 statements, 1,203 rows, 1 refused.',
    );
    expect(sectionTexts(message)).toEqual([
      '⚪ *Database session ended*: <@U0ALICE> on *Production database* (`prod-db`)\n' +
        '*How it ended:* closed by the client\n' +
        `*Duration:* 12m3s, from ${formatWhen(T0)} to ${formatWhen(at(12 * 60_000 + 3_400))}\n` +
        '*Statements:* 14 · *Rows:* 1,203 · *Refused:* 1',
    ]);
    expect(contextTexts(message)).toEqual(['Session `ses_1` · grant `grt_1` · via psql from 10.0.0.7']);
  });

  it('puts every way a session ends in plain words', () => {
    const how = (reason: (typeof GATEWAY_END_REASONS)[number]) =>
      /\*How it ended:\* (.*)/.exec(sectionTexts(ended({ end_reason: reason, end_requested_by: 'U0BOB' }))[0]!)![1];
    expect(Object.fromEntries(GATEWAY_END_REASONS.map((reason) => [reason, how(reason)]))).toEqual({
      client_closed: 'closed by the client',
      grant_ended: 'the grant ended',
      ended_by_owner: 'ended by <@U0BOB>',
      upstream_closed: 'the database closed it',
      setting_changed: 'ended by the gateway: the session changed its encoding or string settings',
      gateway_stopped: 'the gateway stopped',
      replica_lost: 'the gateway replica holding it was lost; Gatehouse ended it on the record',
    });
  });

  it('counts a row count past 2^53 exactly, and says 1 statement', () => {
    const message = ended({ statements: 1, rows: '9007199254740993', refused: 0 });
    expect(message.text).toContain('1 statement, 9,007,199,254,740,993 rows, 0 refused.');
  });
});

describe('the audit channel post of a refused statement', () => {
  const refusal = {
    sessionId: 'ses_1',
    n: 3,
    rule: 'read_only',
    reason: 'cannot execute UPDATE in a read-only transaction',
    sql: "update invoices set note = '<!channel> & ```done```' where id = 1",
  };

  it('shows who, where, the rule and reason, and the statement in a code block, escaped', () => {
    const message = gatewayStatementRefused(refusal, shown());
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    expect(message.text).toBe('⛔ Statement refused for <@U0ALICE> on Production database (rule read_only).');
    expect(sectionTexts(message)).toEqual([
      '⛔ *Statement refused* for <@U0ALICE> on *Production database* (`prod-db`): it never reached the database.\n' +
        '*Why:* cannot execute UPDATE in a read-only transaction (rule `read_only`)',
      "```\nupdate invoices set note = '&lt;!channel&gt; &amp; `\u200b`\u200b`done`\u200b`\u200b`' where id = 1\n```",
    ]);
    expect(contextTexts(message)).toEqual(['Statement 3 of session `ses_1`']);
  });

  it('keeps a 500-character statement whole, and still posts when the session is not on record', () => {
    const long = 'select ' + '<'.repeat(493);
    const message = gatewayStatementRefused({ ...refusal, sql: long }, null);
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    expect(sectionTexts(message)[1]).toBe('```\nselect ' + '&lt;'.repeat(493) + '\n```');
    expect(message.text).toBe('⛔ Statement refused for an unknown holder on a database (rule read_only).');
  });
});

describe('the answers to End session', () => {
  const owners = ['U0BOB', 'U0CAROL'];

  it('says what happened, in words for the clicker', () => {
    const session = aSession();
    expect(endSessionAnswer({ ok: true, session }, 'ses_1', shown(), owners).text).toBe(
      "⏳ Ending <@U0ALICE>'s session on Production database…",
    );
    expect(endSessionAnswer({ ok: false, reason: 'not-owner' }, 'ses_1', shown(), owners).text).toBe(
      '⛔ Only the owners of Production database can end its sessions: <@U0BOB> and <@U0CAROL>. If this one should end, ask one of them.',
    );
    expect(
      endSessionAnswer(
        { ok: false, reason: 'already-ended' },
        'ses_1',
        shown({ end_requested_at: at(1000), end_requested_by: 'U0CAROL' }),
        owners,
      ).text,
    ).toBe(
      `⏳ <@U0ALICE>'s session on Production database is already ending: <@U0CAROL> asked ${formatWhen(at(1000))}.`,
    );
    expect(
      endSessionAnswer({ ok: false, reason: 'already-ended' }, 'ses_1', shown({ ended_at: at(1000) }), owners).text,
    ).toBe("⚪ <@U0ALICE>'s session on Production database has already ended.");
    expect(endSessionAnswer({ ok: false, reason: 'unknown' }, 'ses_<x>', null, []).text).toBe(
      '⚠️ There is no database session `ses_&lt;x&gt;`. Your Home tab lists the live ones.',
    );
  });
});
