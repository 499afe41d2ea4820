import { describe, expect, it } from 'vitest';
import type { AuditEventSummary } from '../src/access/types.ts';
import { AUDIT_ACTIONS } from '../src/audit/actions.ts';
import { auditChannelMessage, formatWhen } from '../src/slack/blocks/index.ts';
import { durationWords, eventSentence } from '../src/slack/blocks/event-sentences.ts';
import { blockKitProblems, blockTexts } from '../src/sandbox/fake-slack/block-kit-limits.ts';

const T0 = new Date('2026-01-02T10:00:00Z');
const HOUR = 3_600_000;
const NAMES: Record<string, string> = { 'staging-db': 'Staging database' };
const names = (id: string) => NAMES[id];

function anEvent(
  action: string,
  body: Record<string, unknown>,
  actor = 'U0DANA',
  subject: string | null = 'req_1',
): AuditEventSummary {
  return { seq: 7, occurredAt: T0, actor, action, subject, body, hash: 'f'.repeat(64) };
}
const say = (action: string, body: Record<string, unknown>, actor?: string, subject?: string | null) =>
  eventSentence(anEvent(action, body, actor, subject), names);

describe('the audit channel in sentences', () => {
  it('tells a request from asking to access ending, with people, resource names and durations in words', () => {
    expect(
      say('request.created', { resource: 'staging-db', duration_ms: HOUR, reason: 'fix the <export> & ship' }, 'U0ANA'),
    ).toBe('<@U0ANA> requested *Staging database*, 1 h: “fix the &lt;export&gt; &amp; ship”');
    expect(say('approval.recorded', { resource: 'staging-db', given: 1, required: 2 })).toBe(
      '<@U0DANA> approved a request for *Staging database* (1 of 2).',
    );
    expect(say('request.approved', { resource: 'staging-db', approvers: ['U0DANA', 'U0BRAM'] })).toBe(
      'The request for *Staging database* is approved by <@U0DANA>, <@U0BRAM>.',
    );
    expect(say('request.denied', { resource: 'prod-db', reason: 'use the replica' })).toBe(
      '<@U0DANA> denied a request for `prod-db`: “use the replica”',
    );
    expect(
      say(
        'grant.active',
        { user: 'U0ANA', resource: 'staging-db', ends_at: '2026-01-02T11:00:00.000Z', attempt: 1 },
        'system',
      ),
    ).toBe(`<@U0ANA> has access to *Staging database* until ${formatWhen(new Date(T0.getTime() + HOUR))}.`);
    expect(say('grant.ending', { user: 'U0ANA', resource: 'staging-db', reason: 'expired' }, 'system')).toBe(
      "<@U0ANA>'s access to *Staging database* is ending: its time ran out.",
    );
    expect(
      say('grant.revoked', { user: 'U0ANA', resource: 'staging-db', reason: 'expired', sessions_ended: 2 }, 'system'),
    ).toBe("<@U0ANA>'s access to *Staging database* was taken away, 2 sessions ended.");
    expect(
      say(
        'request.refused',
        { resource: 'prod-db', reason: 'too-long', duration_ms: 8 * HOUR, max_ms: 30 * 60_000 },
        'U0ANA',
        null,
      ),
    ).toBe('<@U0ANA> asked for `prod-db` and was refused: it may last at most 30 min.');
    expect(say('policy.loaded', { file: 'policy.yaml', previous_sha256: null, resources: ['a', 'b'] }, 'system')).toBe(
      'Gatehouse loaded its first policy from policy.yaml (2 resources).',
    );
    expect([HOUR, 30 * 60_000, 90 * 60_000, 2 * 24 * HOUR + 4 * HOUR, 45_000].map(durationWords)).toEqual([
      '1 h',
      '30 min',
      '1 h 30 min',
      '2 d 4 h',
      '45 s',
    ]);
  });

  it('tells gateway sessions and alerts in words too', () => {
    expect(
      say(
        'gateway.session_ended',
        { resource: 'staging-db', reason: 'client_closed', statements: 3, refused: 1, duration_ms: 5 * 60_000 },
        'system',
      ),
    ).toBe(
      'A database session on *Staging database* ended: the client closed it (3 statements, 1 refused, 5 min long).',
    );
    expect(say('gateway.statement', { n: 2, sql: 'select *\n  from invoices' }, 'U0ANA')).toBe(
      '<@U0ANA> ran statement 2: `select * from invoices`',
    );
    expect(say('alert.raised', { severity: 'high', user: 'U0ANA', title: 'Approved within 5 seconds' }, 'system')).toBe(
      'Alert (high) about <@U0ANA>: Approved within 5 seconds.',
    );
    expect(say('alert.acknowledged', { detector: 'rubber_stamp', severity: 'high' })).toBe(
      '<@U0DANA> acknowledged the rubber_stamp alert.',
    );
  });

  it('has a sentence for every recorded action, even with an empty body, and a plain one for an unknown action', () => {
    for (const action of AUDIT_ACTIONS) {
      const sentence = say(action, {});
      expect(sentence, action).not.toContain('recorded *');
      expect(sentence, action).not.toMatch(/undefined|null|NaN|\[object/);
    }
    expect(say('teleport.beamed', { to: 'mars' }, 'cli:ops', 'thing_<1>')).toBe(
      '`cli:ops` recorded *teleport.beamed* on `thing_&lt;1&gt;`.',
    );
    expect(say('request.created', { resource: 42, duration_ms: 'soon', reason: { nested: true } })).toBe(
      '<@U0DANA> requested a resource.',
    );
  });

  it("keeps a 2,000-character reason whole, split across sections within Slack's limits, and names the events left for the next message", () => {
    // 1,983 characters that escape to 3,763: more than one section holds.
    const reason = `${'<why> & '.repeat(247)}end`;
    const events = [1, 2, 3].map((seq) => ({
      ...anEvent('request.denied', { resource: 'staging-db', reason }),
      seq,
    }));
    const message = auditChannelMessage(events, names);
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    // Two fit in Slack's 12,000 characters; the feed posts the third next.
    expect(message.shown).toBe(2);
    expect(message.blocks.filter((b) => b.type === 'section')).toHaveLength(4);
    const shown = blockTexts(message.blocks);
    expect(shown.join('\n')).not.toContain('truncated');
    expect(shown.join('\n').match(/&lt;why&gt;/g)).toHaveLength(2 * 247);
    expect(shown.filter((t) => t.endsWith('end”'))).toHaveLength(2);
    expect(shown.at(-1)).toBe('…and 1 more event (seq 3 to 3) not shown here.');
  });
});

describe('an event longer than any message', () => {
  it('goes out all the same, saying where the rest is, so the feed never stalls on it', () => {
    // Longer than anything Gatehouse records (reasons stop at 2,000 characters), escaped fivefold.
    const huge = anEvent('request.denied', { resource: 'staging-db', reason: '&'.repeat(3000) });
    const message = auditChannelMessage([huge, { ...huge, seq: 8 }], names);
    expect(message.shown).toBe(1);
    expect(blockKitProblems('message', message.blocks)).toEqual([]);
    expect(blockTexts(message.blocks)).toContain(
      'The rest of event #7 is too long for Slack: `gatehouse audit export` shows it whole.',
    );
  });
});
