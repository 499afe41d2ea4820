import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequesterHistory } from '../src/access/history.ts';
import type { GrantId, RequestId, SlackUserId } from '../src/access/ids.ts';
import type { AccessRequest } from '../src/access/types.ts';
import { formatDuration } from '../src/config/duration.ts';
import { blockKitProblems, blockTexts } from '../src/sandbox/fake-slack/block-kit-limits.ts';
import type { RecordedCall } from '../src/sandbox/fake-slack/fake-slack.ts';
import {
  LIMITS,
  approvalCard,
  formatWhen,
  type ApprovalCardOptions,
  type ExtendedGrant,
} from '../src/slack/blocks/index.ts';
import { PEOPLE } from './support/access.ts';
import { aShownSession } from './support/fixtures.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { answered, cardPostedTo, fileRequest } from './support/slack-stories.ts';

const T0 = new Date('2026-12-02T10:00:00Z');
const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms);

function aRequest(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'req_card1' as RequestId,
    requester: 'U0BRAM001' as SlackUserId,
    resourceId: 'staging-db',
    resourceName: 'Staging database',
    durationMs: 2 * HOUR,
    reason: 'run the invoice migration',
    status: 'pending',
    approvalsRequired: 2,
    approvals: [],
    createdAt: T0,
    expiresAt: at(24 * HOUR),
    decidedAt: null,
    decidedBy: null,
    denyReason: null,
    extendsGrantId: null,
    ...overrides,
  };
}

const NO_HISTORY: RequesterHistory = { grants: 0, lastGrant: null, denials: 0, lastDenial: null };
/** The date alone, as the history line shows a past grant's day. */
const day = (date: Date) =>
  `<!date^${Math.floor(date.getTime() / 1000)}^{date_short}|${date.toISOString().slice(0, 10)}>`;
const texts = (card: { blocks: unknown }) => blockTexts(card.blocks);
const historyOf = (card: { blocks: unknown }) => texts(card).find((t) => /History with|First request/.test(t));

describe('the approval card, as built', () => {
  it('opens with a header naming the resource, and says an extension is one', () => {
    expect(approvalCard(aRequest()).blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'Access request: Staging database', emoji: true },
    });
    const extension = approvalCard(aRequest({ extendsGrantId: 'grt_1' as GrantId }));
    expect(texts(extension)[0]).toBe('Extension request: Staging database');
    const long = approvalCard(aRequest({ resourceName: 'Very long name '.repeat(30) }));
    expect(texts(long)[0]).toHaveLength(LIMITS.headerText);
  });

  it('names the requester beside the mention, escaped, and shows the mention alone when there is no name', () => {
    expect(texts(approvalCard(aRequest(), { requesterName: 'Bram <Example>' }))[1]).toBe(
      '⏳ <@U0BRAM001> (Bram &lt;Example&gt;) asks for *Staging database* (`staging-db`) for *2h*',
    );
    expect(texts(approvalCard(aRequest()))[1]).toBe(
      '⏳ <@U0BRAM001> asks for *Staging database* (`staging-db`) for *2h*',
    );
    // The notification text stays the plain ask.
    expect(approvalCard(aRequest(), { requesterName: 'Bram' }).text).toBe(
      '⏳ <@U0BRAM001> asks for *Staging database* (`staging-db`) for *2h*',
    );
  });

  it("tells the requester's history with this resource: grants, denials, both, or none", () => {
    const lastGrant = { startsAt: at(-26 * HOUR), durationMs: HOUR };
    const lastDenial = { at: at(-2 * HOUR), reason: `use the read replica & not <prod> ${'r'.repeat(200)}` };
    const cases: [RequesterHistory, string][] = [
      [NO_HISTORY, '🆕 First request for *Staging database* by <@U0BRAM001>'],
      [
        { ...NO_HISTORY, grants: 3, lastGrant },
        `📜 History with *Staging database*: 3 grants (last ${day(lastGrant.startsAt)}, 1h)`,
      ],
      [
        { ...NO_HISTORY, denials: 1, lastDenial: { at: T0, reason: null } },
        '📜 History with *Staging database*: 1 denial',
      ],
      [
        { grants: 1, lastGrant, denials: 2, lastDenial },
        `📜 History with *Staging database*: 1 grant (last ${day(lastGrant.startsAt)}, 1h) · 2 denials (last: “use the read replica &amp; not &lt;prod&gt; ${'r'.repeat(24)} (truncated)”)`,
      ],
    ];
    for (const [history, line] of cases) expect(historyOf(approvalCard(aRequest(), { history }))).toBe(line);
    expect(historyOf(approvalCard(aRequest()))).toBeUndefined();
  });

  it('says who can approve and how many approvals it needs, when it was asked and for how long', () => {
    const card = approvalCard(aRequest({ approvals: [{ approver: 'U0DANA001' as SlackUserId, at: T0 }] }), {
      approvers: ['U0DANA001', 'U0EMIL001', 'U0ANA0001'],
    });
    expect(texts(card)).toContain(
      '*Can approve:* <@U0DANA001>, <@U0EMIL001> and <@U0ANA0001> · 1 of 2 approvals: <@U0DANA001>',
    );
    expect(texts(card)).toContain(`Asked ${formatWhen(T0)} · for 2h from approval`);
    expect(texts(card)).toContain(`⏳ Waiting for approval until ${formatWhen(at(24 * HOUR))}`);
    const many = approvalCard(aRequest(), { approvers: Array.from({ length: 14 }, (_, i) => `U0OWNER${i}`) });
    expect(texts(many).find((t) => t.startsWith('*Can approve:*'))).toMatch(/<@U0OWNER9> and 4 more · 0 of 2/);
  });

  it('shows for an extension the original reason, the current end, the end asked for and the time held', () => {
    const grant: ExtendedGrant = {
      originalReason: 'first <migration>',
      startsAt: at(-HOUR),
      endsAt: at(HOUR),
      heldMs: HOUR + 5 * 60_000,
      ended: false,
    };
    const request = aRequest({ extendsGrantId: 'grt_1' as GrantId, durationMs: 30 * 60_000 });
    const pending = approvalCard(request, { extendedGrant: grant });
    expect(texts(pending)).toContain(
      '*Originally asked for:* first &lt;migration&gt;\n' +
        `*Access now ends* ${formatWhen(at(HOUR))} · *if approved, ends* ${formatWhen(at(HOUR + 30 * 60_000))}\n` +
        `*Held so far:* 1h5m (since ${formatWhen(at(-HOUR))})`,
    );
    expect(texts(pending)).toContain(`Asked ${formatWhen(T0)} · 30m more`);
    // Once approved, the grant's end has moved: the card shows where it is, not a sum.
    const approved = approvalCard(
      { ...request, status: 'approved', decidedAt: T0, decidedBy: 'U0DANA001' },
      { extendedGrant: { ...grant, endsAt: at(HOUR + 30 * 60_000) } },
    );
    const shown = texts(approved).join('\n');
    expect(shown).toContain(`*Access now ends* ${formatWhen(at(HOUR + 30 * 60_000))}`);
    expect(shown).not.toContain('if approved');
    const ended = approvalCard(request, { extendedGrant: { ...grant, ended: true, originalReason: null } });
    expect(texts(ended).join('\n')).toMatch(/_not on record_\n\*Access ended\* /);
    expect(texts(approvalCard(request, { extendedGrant: null }))).toContain(
      'Extends grant `grt_1`, which is no longer on record.',
    );
    // A caller that knows nothing of the grant (the Home tab, a reminder) shows no such section.
    expect(texts(approvalCard(request)).join('\n')).not.toContain('Originally asked for');
  });

  it('ends with the request id, small, after the buttons and the live sessions', () => {
    const card = approvalCard(aRequest(), { liveSessions: [aSession(1)] });
    expect(card.blocks.at(-1)).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'Request `req_card1`' }],
    });
    expect(texts(approvalCard(aRequest({ status: 'denied', decidedBy: 'U0DANA001', decidedAt: T0 }))).at(-1)).toBe(
      'Request `req_card1`',
    );
  });

  it("stays within Slack's limits with a 4,000-character reason and everything else at its longest", () => {
    const name = 'N&<'.repeat(400);
    const request = aRequest({
      resourceName: name,
      reason: '<b>'.repeat(1334),
      extendsGrantId: 'g'.repeat(200) as GrantId,
      status: 'denied',
      decidedBy: 'U0DANA001',
      decidedAt: T0,
      denyReason: '&'.repeat(4000),
      mfaChecked: true,
      approvalsRequired: 9,
      approvals: Array.from({ length: 9 }, (_, i) => ({ approver: `U0APPROVER${i}` as SlackUserId, at: T0 })),
    });
    expect(request.reason).toHaveLength(4002);
    const options: ApprovalCardOptions = {
      requesterName: 'B'.repeat(4000),
      history: {
        grants: 999,
        lastGrant: { startsAt: T0, durationMs: 400 * 24 * HOUR },
        denials: 999,
        lastDenial: { at: T0, reason: '<'.repeat(4000) },
      },
      approvers: Array.from({ length: 500 }, (_, i) => `U0OWNER${i}`),
      extendedGrant: { originalReason: '>'.repeat(4000), startsAt: T0, endsAt: T0, heldMs: HOUR, ended: false },
      liveSessions: Array.from({ length: 9 }, (_, i) => aSession(i + 1)),
    };
    for (const card of [
      approvalCard(request, options),
      approvalCard({ ...request, status: 'pending' }, options),
      approvalCard(request, { ...options, decidedSummary: 'x'.repeat(5000) }),
    ]) {
      expect(blockKitProblems('message', card.blocks)).toEqual([]);
      expect(texts(card).join('').length).toBeLessThanOrEqual(LIMITS.messageChars);
      expect(card.text.length).toBeLessThanOrEqual(3000);
      expect(card.blocks.length).toBeLessThanOrEqual(LIMITS.messageBlocks);
    }
  });
});

const aSession = (n: number) =>
  aShownSession(n, { resource: { id: 'staging-db', name: 'Staging database' }, userId: 'U0BRAM001', t0: T0 });

const { ana, bram, dana, emil } = PEOPLE;

describe("an owner's card, through Slack", () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot();
    bot.fake.setUser(bram, { real_name: 'Bram Example' });
  });
  afterAll(async () => bot?.stop());

  const access = () => bot.gatehouse.access;
  const shownText = (call: RecordedCall) => blockTexts(call.args.blocks).join('\n');
  const cardTo = async (owner: string, requestId: string) =>
    shownText(await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId)));

  /** Files a request through the service; resolves with its id. */
  async function asked(requester: SlackUserId, resourceId: string, reason: string): Promise<RequestId> {
    const filed = await access().request({ requester, resourceId, reason });
    if (!filed.ok) throw new Error(`not filed: ${JSON.stringify(filed)}`);
    return filed.request.id;
  }

  /** Approves as Dana, and resolves with the grant once it is active. */
  async function granted(requestId: RequestId) {
    const approved = await access().approve(requestId, dana);
    if (!approved.ok || !approved.grant) throw new Error(`not approved: ${JSON.stringify(approved)}`);
    for (;;) {
      const grant = await access().findGrant(approved.grant.id);
      if (grant?.status === 'active') return grant;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  let grantId: GrantId;

  it("shows a returning requester's grants and denials of the resource, by name, and who can approve", async () => {
    const first = await granted(await asked(bram, 'staging-db', 'look at the slow query'));
    expect((await access().release(first.id, bram)).ok).toBe(true);
    const second = await asked(bram, 'staging-db', 'again, please');
    expect((await access().deny(second, dana, 'use the read replica for this')).ok).toBe(true);
    await bot.settle();

    const third = await fileRequest(bot, bram, 'staging-db 1h run the invoice migration');
    const card = await cardTo(dana, third);
    const lastGrant = `last ${day(first.startsAt)}, ${formatDuration(first.endsAt.getTime() - first.startsAt.getTime())}`;
    expect(card.split('\n')).toEqual(
      expect.arrayContaining([
        'Access request: Staging database',
        '⏳ <@U0BRAM001> (Bram Example) asks for *Staging database* (`staging-db`) for *1h*',
        '*Reason:* run the invoice migration',
        '*Can approve:* <@U0ANA0001>, <@U0DANA001> and <@U0EMIL001> · 0 of 1 approval',
        `📜 History with *Staging database*: 1 grant (${lastGrant}) · 1 denial (last: “use the read replica for this”)`,
        `Request \`${third}\``,
      ]),
    );
    const request = (await access().findRequest(third))!;
    expect(card).toContain(`Asked ${formatWhen(request.createdAt)} · for 1h from approval`);
    // Every owner's card is the same one.
    expect(await cardTo(emil, third)).toBe(card);
    grantId = (await granted(third)).id;
  });

  it("shows an extension's original reason, the grant's end now and asked for, and how long access has been held", async () => {
    const filed = await access().extend(grantId, bram, { reason: 'the migration runs long', duration: '45m' });
    if (!filed.ok) throw new Error(`not filed: ${JSON.stringify(filed)}`);
    const extension = filed.request;
    const grant = (await access().findGrant(grantId))!;
    const card = await cardTo(dana, extension.id);
    expect(card).toContain('Extension request: Staging database');
    expect(card).toContain(`Asked ${formatWhen(extension.createdAt)} · 45m more`);
    expect(card).toContain('*Reason:* the migration runs long');
    expect(card).toContain(
      '*Originally asked for:* run the invoice migration\n' +
        `*Access now ends* ${formatWhen(grant.endsAt)} · *if approved, ends* ${formatWhen(new Date(grant.endsAt.getTime() + extension.durationMs))}\n`,
    );
    expect(card).toMatch(
      new RegExp(`\\*Held so far:\\* [\\dhms]+ \\(since ${escapeRegExp(formatWhen(grant.startsAt))}\\)`),
    );
    // The grant being extended is shown above (held so far), not counted again as history.
    expect(card).toContain('📜 History with *Staging database*: 1 grant');

    // Approved, the card no longer offers a sum: it shows the outcome and where access ends.
    const since = bot.fake.calls.length;
    expect((await access().approve(extension.id, dana)).ok).toBe(true);
    const update = await bot.fake.waitForCall(
      'chat.update',
      (c) => answered(c) && bot.fake.calls.indexOf(c) >= since && /Approved by/.test(shownText(c)),
    );
    // The grant's end has moved by the 45 minutes asked for, and the card shows where it is now.
    const moved = (await access().findGrant(grantId))!;
    expect(moved.endsAt.getTime() - grant.endsAt.getTime()).toBe(45 * 60_000);
    expect(shownText(update)).toContain(`*Access now ends* ${formatWhen(moved.endsAt)}`);
    expect(shownText(update)).not.toContain('if approved');
  });

  it('is posted with the mention alone when Slack cannot give a name, and says a first request is one', async () => {
    bot.fake.setUser(ana, { real_name: 'Ana Example' });
    bot.fake.failNext('users.info', { status: 500 });
    const requestId = await fileRequest(bot, ana, 'prod-db 1h read last month’s invoices');
    const card = await cardTo(dana, requestId);
    expect(bot.fake.callsTo('users.info').some((c) => c.failed)).toBe(true);
    expect(card).toContain('⏳ <@U0ANA0001> asks for *Production database* (`prod-db`) for *1h*');
    expect(card).toContain('🆕 First request for *Production database* by <@U0ANA0001>');
    expect(card).toContain('*Can approve:* <@U0DANA001> and <@U0EMIL001> · 0 of 2 approvals');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
