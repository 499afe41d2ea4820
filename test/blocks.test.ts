import { describe, expect, it } from 'vitest';
import { NO_KEY_WARNING } from '../src/audit/checkpoints/checks.ts';
import type { AlertRow } from '../src/access/alerts.ts';
import type { Refusal } from '../src/access/refusals.ts';
import type { AccessRequest, AuditEventSummary, Grant } from '../src/access/types.ts';
import type { GrantId, SlackUserId } from '../src/access/ids.ts';
import {
  ACTION,
  BLOCK,
  DENY_MODAL,
  LIMITS,
  REQUEST_MODAL,
  VIEW,
  accessActiveDM,
  loginDM,
  requestSentDM,
  accessHelp,
  accessList,
  alertAccessEndedAnswer,
  alertAcknowledgedAnswer,
  alertMessage,
  appHome,
  approvalCard,
  approvedDM,
  auditChannelMessage,
  deniedDM,
  denyModal,
  escapeText,
  expiringSoonDM,
  formatTimeLeft,
  formatWhen,
  grantEndedDM,
  mention,
  mfaChangedDM,
  mfaEnrolledDM,
  mfaEnrolmentDM,
  mfaEnrolmentStarted,
  mfaLockedDM,
  mfaModal,
  mfaStatusMessage,
  provisioningFailingDM,
  readMfaModalContext,
  readRequestModalContext,
  refusalMessage,
  requestExpiredDM,
  requestModal,
  sentToApprovers,
  truncate,
  verifyResultMessage,
  type Message,
  type ShownAlert,
} from '../src/slack/blocks/index.ts';
import { blockKitProblems, blockTexts, type Surface } from '../src/sandbox/fake-slack/block-kit-limits.ts';

const T0 = new Date('2026-01-02T10:00:00Z');
const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms);
/** What Slack renders for T0 + ms: the date token with its ISO fallback. */
const when = (ms: number) => formatWhen(at(ms));
const PROD = { id: 'prod-db', name: 'Production database' };

function aRequest(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'req-1',
    requester: 'U0ALICE',
    resourceId: PROD.id,
    resourceName: PROD.name,
    durationMs: 2 * HOUR,
    reason: 'fix invoice export',
    status: 'pending',
    approvalsRequired: 2,
    approvals: [{ approver: 'U0BOB', at: T0 }],
    createdAt: T0,
    expiresAt: at(24 * HOUR),
    decidedAt: null,
    decidedBy: null,
    denyReason: null,
    extendsGrantId: null,
    ...overrides,
  };
}

function aGrant(overrides: Partial<Grant> = {}): Grant {
  return {
    id: 'grant-1',
    requestId: 'req-1',
    userId: 'U0ALICE',
    resourceId: PROD.id,
    resourceName: PROD.name,
    status: 'active',
    startsAt: T0,
    endsAt: at(2 * HOUR),
    endedAt: null,
    endReason: null,
    lastError: null,
    ...overrides,
  };
}

type Node = Record<string, unknown>;
const nodes = (value: unknown): Node[] =>
  Array.isArray(value)
    ? value.flatMap(nodes)
    : typeof value === 'object' && value !== null
      ? [value as Node, ...Object.values(value).flatMap(nodes)]
      : [];
const buttons = (blocks: unknown) => nodes(blocks).filter((node) => node.type === 'button');
const sectionTexts = (message: Message) =>
  message.blocks.flatMap((block) => (block.type === 'section' && block.text ? [block.text.text] : []));

/** Slack's limits (the shared checker) plus what it does not cover: unique block ids, context texts, option descriptions. */
function problems(kind: Surface, blocks: unknown, view?: Node): string[] {
  const found = blockKitProblems(kind, blocks, view);
  const ids = nodes(blocks).flatMap((node) => (typeof node.block_id === 'string' ? [node.block_id] : []));
  if (new Set(ids).size !== ids.length) found.push(`duplicate block_id in ${ids.join(', ')}`);
  for (const node of nodes(blocks)) {
    if (node.type === 'context')
      for (const element of node.elements as Node[])
        if (String(element.text).length > 3000) found.push('context text > 3000');
    if (node.description && String((node.description as Node).text).length > 75) found.push('option description > 75');
    if ((node.type === 'mrkdwn' || node.type === 'plain_text') && node.text === '') found.push('empty text');
  }
  return found;
}
function messageProblems(message: Message): string[] {
  const total = blockTexts(message.blocks).join('').length;
  return [
    ...problems('message', message.blocks),
    ...(message.text ? [] : ['no text']),
    ...(total > LIMITS.messageChars ? [`${total} characters in all`] : []),
  ];
}

describe('text helpers', () => {
  it('escapes Slack markup and cuts long text within the limit', () => {
    expect(escapeText('<script>alert("x")</script> & <!channel>')).toBe(
      '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;!channel&gt;',
    );
    const cut = truncate('x'.repeat(5000));
    expect(cut).toHaveLength(3000);
    expect(cut.endsWith('x (truncated)')).toBe(true);
    expect(truncate('short')).toBe('short');
    expect(truncate(`aaaaaa&amp;${'b'.repeat(20)}`, 20)).toBe('aaaaaa (truncated)');
    expect(truncate(`${'a'.repeat(7)}😀${'b'.repeat(20)}`, 20)).toBe(`${'a'.repeat(7)} (truncated)`);
  });

  it("mentions users and shows time left and moments in the reader's time zone", () => {
    expect(mention('U0ALICE')).toBe('<@U0ALICE>');
    expect(mention('system')).toBe('system');
    expect(formatTimeLeft(80 * 60_000)).toBe('1h 20m left');
    expect(formatTimeLeft(30_000)).toBe('less than a minute left');
    expect(formatTimeLeft(51 * HOUR)).toBe('2d 3h left');
    expect(formatWhen(T0)).toBe('<!date^1767348000^{date_short_pretty} {time}|2026-01-02T10:00:00Z>');
  });
});

describe('the approver card', () => {
  it('says who asks, for what, how long, why, and how many approvals, with Approve and Deny carrying the request id', () => {
    const card = approvalCard(aRequest());
    expect(card.text).toBe('⏳ <@U0ALICE> asks for *Production database* (`prod-db`) for *2h*');
    expect(blockTexts(card.blocks)).toEqual([
      'Access request: Production database',
      '⏳ <@U0ALICE> asks for *Production database* (`prod-db`) for *2h*',
      `Asked ${when(0)} · for 2h from approval`,
      '*Reason:* fix invoice export',
      '1 of 2 approvals: <@U0BOB>',
      `⏳ Waiting for approval until ${when(24 * HOUR)}`,
      'Approve',
      'Deny',
      'Request `req-1`',
    ]);
    expect(buttons(card.blocks).map((b) => [b.action_id, b.value, b.style])).toEqual([
      [ACTION.approve, 'req-1', 'primary'],
      [ACTION.deny, 'req-1', 'danger'],
    ]);
    expect(card.blocks.at(-2)).toMatchObject({ type: 'actions', block_id: BLOCK.approvalActions });
  });

  it('loses its buttons and shows the outcome once decided', () => {
    const approved = approvalCard(
      aRequest({
        status: 'approved',
        decidedAt: at(HOUR),
        decidedBy: 'U0CAROL',
        approvals: [
          { approver: 'U0BOB', at: T0 },
          { approver: 'U0CAROL', at: at(HOUR) },
        ],
      }),
    );
    expect(buttons(approved.blocks)).toEqual([]);
    expect(sectionTexts(approved)).toContain(`✅ Approved by <@U0BOB> and <@U0CAROL> at ${when(HOUR)}`);
    const outcomes = [
      [
        aRequest({ status: 'denied', decidedAt: at(HOUR), decidedBy: 'U0BOB', denyReason: 'use staging & <b>' }),
        `⛔ Denied by <@U0BOB> at ${when(HOUR)}: use staging &amp; &lt;b&gt;`,
      ],
      [
        aRequest({ status: 'expired', decidedAt: at(24 * HOUR), decidedBy: 'system' }),
        `⌛ Expired unanswered at ${when(24 * HOUR)}`,
      ],
      [
        aRequest({ status: 'cancelled', decidedAt: at(HOUR), decidedBy: 'U0ALICE' }),
        `✖️ Cancelled by the requester at ${when(HOUR)}`,
      ],
    ] as const;
    for (const [request, line] of outcomes) {
      const card = approvalCard(request);
      expect(sectionTexts(card)).toContain(line);
      expect(card.text.startsWith(line)).toBe(true);
      expect(buttons(card.blocks)).toEqual([]);
    }
  });

  it('has no buttons for a viewer who may not decide', () => {
    expect(buttons(approvalCard(aRequest(), { viewerIsApprover: false }).blocks)).toEqual([]);
  });

  it('escapes markup in reasons and cuts a 5,000-character reason to fit', () => {
    const escaped = approvalCard(aRequest({ reason: '<script>alert(1)</script> & <!channel>' }));
    expect(sectionTexts(escaped)).toContain('*Reason:* &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;');
    const long = approvalCard(aRequest({ reason: 'r'.repeat(5000) }));
    const reason = sectionTexts(long).find((text) => text.startsWith('*Reason:*')) ?? '';
    expect(reason).toHaveLength(3000);
    expect(reason.endsWith(' (truncated)')).toBe(true);
    expect(messageProblems(long)).toEqual([]);
  });
});

describe('messages to the requester', () => {
  const request = aRequest();
  const grant = aGrant();

  it('tell each step in words, with buttons where there is something to do', () => {
    const sent = sentToApprovers(request, 3);
    expect(sectionTexts(sent)[0]).toBe(
      `⏳ Your request for *Production database* (\`prod-db\`) for *2h* was sent to 3 approvers.\nIt needs 2 approvals and expires unanswered ${when(24 * HOUR)}. So far: 1 of 2 approvals: <@U0BOB>. I'll message you when it is decided.`,
    );
    expect(buttons(sent.blocks).map((b) => [b.action_id, b.value])).toEqual([[ACTION.cancelRequest, 'req-1']]);
    const approved = aRequest({
      status: 'approved',
      approvals: [
        { approver: 'U0BOB', at: T0 },
        { approver: 'U0CAROL', at: T0 },
      ],
    });
    expect(approvedDM(approved, grant).text).toBe(
      '✅ <@U0BOB> and <@U0CAROL> approved your request for *Production database* (`prod-db`).',
    );
    // Its second line follows the grant: being set up, then active.
    expect(sectionTexts(approvedDM(approved, aGrant({ status: 'provisioning' })))[0]).toContain(
      `Your access lasts 2h, until ${when(2 * HOUR)}.`,
    );
    expect(sectionTexts(approvedDM(approved, grant))[0]).toContain(`Your access is active until ${when(2 * HOUR)}.`);
    expect(deniedDM(aRequest({ status: 'denied', decidedBy: 'U0BOB', denyReason: 'use <staging>' })).text).toBe(
      '⛔ <@U0BOB> denied your request for *Production database* (`prod-db`): use &lt;staging&gt;',
    );
    expect(accessActiveDM(grant).text).toBe(
      `🟢 Your access to *Production database* (\`prod-db\`) is active until ${when(2 * HOUR)}.`,
    );
    expect(buttons(accessActiveDM(grant).blocks).map((b) => [b.action_id, b.value])).toEqual([
      [ACTION.extendGrant, 'grant-1'],
      [ACTION.endGrant, 'grant-1'],
    ]);
    // A database login made for the grant: a message of its own, in the blocks, never in the notification text.
    const login = {
      host: 'db.internal',
      port: '5432',
      database: 'billing',
      user: 'gatehouse_grt_1',
      password: 'S3cr3t-p4ss_w0rd',
    };
    const withLogin = loginDM(grant, login);
    expect(withLogin.text).toBe('🔑 Your login for *Production database* (`prod-db`)');
    const shown = sectionTexts(withLogin).join('\n');
    expect(shown).toContain('user: gatehouse_grt_1\npassword: S3cr3t-p4ss_w0rd');
    expect(shown).toContain('url: postgresql://gatehouse_grt_1:S3cr3t-p4ss_w0rd@db.internal:5432/billing');
    expect(messageProblems(withLogin)).toEqual([]);
    // Once the access ended, the login's message shows no credentials.
    const ended = loginDM(aGrant({ status: 'ended', endedAt: at(HOUR), endReason: 'released' }), null);
    expect(JSON.stringify(ended)).not.toContain('S3cr3t');
    expect(ended.text).toBe(
      `🔒 The login made for your access to *Production database* (\`prod-db\`) no longer works: the access ended at ${when(HOUR)}.`,
    );
    const expiring = expiringSoonDM({ ...grant, warnedAt: at(HOUR) }, 10);
    expect(expiring.text).toBe(
      `⌛ Your access to *Production database* (\`prod-db\`) ends in 10 minutes, at ${when(2 * HOUR)}.`,
    );
    expect(buttons(expiring.blocks).map((b) => [b.action_id, b.value])).toEqual([
      [ACTION.extendGrant, 'grant-1'],
      [ACTION.endGrant, 'grant-1'],
    ]);
    expect(grantEndedDM(aGrant({ status: 'ended', endedAt: at(2 * HOUR), endReason: 'expired' })).text).toBe(
      `⚪ Your access to *Production database* (\`prod-db\`) ended at ${when(2 * HOUR)}: its time ran out.`,
    );
    expect(grantEndedDM(aGrant({ status: 'ended', endedAt: at(HOUR), endReason: 'released' })).text).toContain(
      ': you ended it.',
    );
    expect(requestExpiredDM(aRequest({ status: 'expired' })).text).toBe(
      `⌛ Your request for *Production database* (\`prod-db\`) expired: no approver decided before ${when(24 * HOUR)} (1 of 2 approvals: <@U0BOB>).`,
    );
    expect(provisioningFailingDM(aGrant({ status: 'provision_failed', lastError: 'password=hunter2' })).text).toBe(
      '⚠️ Setting up your access to *Production database* (`prod-db`) is failing; Gatehouse keeps retrying and tells you when it is active.',
    );
    expect(
      JSON.stringify(provisioningFailingDM(aGrant({ status: 'provision_failed', lastError: 'password=hunter2' }))),
    ).not.toContain('hunter2');
  });
});

describe('messages to the requester, as they stand after a change', () => {
  it('a request sent: Cancel only while it waits; then what became of it', () => {
    const pending = aRequest();
    expect(buttons(requestSentDM(pending, 3, null).blocks)).toHaveLength(1);
    const approved = aRequest({
      status: 'approved',
      decidedAt: at(HOUR),
      approvals: [{ approver: 'U0BOB', at: at(HOUR) }],
    });
    const active = requestSentDM(approved, 3, aGrant());
    expect(buttons(active.blocks)).toEqual([]);
    expect(active.text).toBe(
      `✅ Your request for *Production database* (\`prod-db\`) for *2h* was approved by <@U0BOB> at ${when(HOUR)}.`,
    );
    expect(sectionTexts(active)[0]).toContain(`Your access is active until ${when(2 * HOUR)}.`);
    const ended = requestSentDM(approved, 3, aGrant({ status: 'ended', endedAt: at(HOUR), endReason: 'expired' }));
    expect(sectionTexts(ended)[0]).toContain(`That access ended at ${when(HOUR)}: its time ran out.`);
    expect(
      requestSentDM(aRequest({ status: 'cancelled', decidedBy: 'U0ANA', decidedAt: at(HOUR) }), 3, null).text,
    ).toBe(`✖️ Your request for *Production database* (\`prod-db\`) for *2h* was cancelled at ${when(HOUR)}.`);
    expect(
      requestSentDM(
        aRequest({ status: 'cancelled', decidedBy: 'system', decidedAt: at(HOUR), extendsGrantId: 'grant-1' }),
        3,
        null,
      ).text,
    ).toContain('Your request to extend *Production database* (`prod-db`) by *2h* was withdrawn');
  });

  it('access active: no Extend while an extension waits, and no button once it ended', () => {
    const grant = aGrant();
    const waiting = accessActiveDM(grant, {
      pendingExtension: aRequest({ extendsGrantId: 'grant-1', durationMs: HOUR }),
    });
    expect(buttons(waiting.blocks).map((b) => b.action_id)).toEqual([ACTION.endGrant]);
    expect(sectionTexts(waiting)[0]).toContain('You asked to extend it by *1h*: waiting for the owners');
    const ended = accessActiveDM(aGrant({ status: 'ended', endedAt: at(HOUR), endReason: 'released' }));
    expect(buttons(ended.blocks)).toEqual([]);
    expect(ended.text).toBe(`⚪ Access to *Production database* (\`prod-db\`): ended at ${when(HOUR)} (you ended it).`);
  });

  it('ending soon, then extended: the warning says the new end', () => {
    const extended = expiringSoonDM({ ...aGrant(), endsAt: at(3 * HOUR), warnedAt: null }, 60);
    expect(extended.text).toBe(
      `✅ Your access to *Production database* (\`prod-db\`) was extended: it now ends ${when(3 * HOUR)}.`,
    );
    expect(buttons(extended.blocks).map((b) => b.action_id)).toEqual([ACTION.extendGrant, ACTION.endGrant]);
  });
});

const STAGING = { id: 'staging', name: 'Staging' };
const REFUSALS: Refusal[] = [
  { kind: 'unknown-resource', given: 'prod<x>', allowed: [PROD, STAGING] },
  { kind: 'unknown-resource', given: 'prod', allowed: [] },
  { kind: 'not-allowed', resource: PROD, allowed: [STAGING] },
  { kind: 'too-long', resource: PROD, requestedMs: 8 * HOUR, maxMs: 4 * HOUR },
  { kind: 'bad-duration', given: '90 minutes' },
  { kind: 'reason-required', resource: PROD },
  { kind: 'already-held', grant: aGrant() },
  { kind: 'already-pending', request: aRequest() },
  { kind: 'not-approver', request: aRequest() },
  { kind: 'own-request', request: aRequest(), owner: true },
  { kind: 'already-approved-by-you', request: aRequest() },
  { kind: 'already-decided', request: aRequest({ status: 'denied', decidedBy: 'U0BOB', decidedAt: at(HOUR) }) },
  { kind: 'not-yours' },
  { kind: 'not-found', id: 'req-404' },
  { kind: 'not-auditor' },
  { kind: 'mfa-not-enrolled', purpose: 'request' },
  { kind: 'mfa-not-enrolled', purpose: 'confirm' },
  { kind: 'mfa-code-needed', resource: PROD },
  { kind: 'mfa-wrong', malformed: false, attemptsLeft: 1 },
  { kind: 'mfa-replayed' },
  { kind: 'mfa-locked', until: at(HOUR) },
  { kind: 'mfa-unavailable' },
  { kind: 'mfa-already-on' },
  { kind: 'not-mfa-admin' },
  { kind: 'mfa-own-reset' },
  { kind: 'not-alert-responder', action: 'acknowledge' },
  { kind: 'not-alert-responder', action: 'end_access' },
  { kind: 'alert-already-acknowledged', by: 'U0DANA' as SlackUserId, at: at(HOUR) },
  { kind: 'alert-nothing-to-end', alert: { id: 'alt_1', title: 'Ana read <b>100,000 rows</b>' } },
  { kind: 'alert-about-you' },
];

describe('refusals', () => {
  const say = (refusal: Refusal) => refusalMessage(refusal).text;

  it('say what went wrong, what is allowed and what to do next', () => {
    expect(say({ kind: 'too-long', resource: PROD, requestedMs: 8 * HOUR, maxMs: 4 * HOUR })).toBe(
      '*Production database* (`prod-db`) allows at most 4h; you asked for 8h. Ask again with a shorter duration, e.g. `/request-access prod-db 4h &lt;reason&gt;`. If you need longer, extend the grant before it ends.',
    );
    expect(say(REFUSALS[0] as Refusal)).toBe(
      'There is no resource called `prod&lt;x&gt;`. You may request: `prod-db` (Production database), `staging` (Staging). For example: `/request-access prod-db 2h &lt;reason&gt;`.',
    );
    expect(say({ kind: 'not-approver', request: aRequest() })).toBe(
      'You are not an approver for *Production database* (`prod-db`): only its owners can approve or deny this request. Your attempt has been recorded in the audit log.',
    );
    expect(say({ kind: 'bad-duration', given: '90 minutes' })).toBe(
      '`90 minutes` is not a duration: use a number and a unit, like 30m, 4h, 1h30m or 2d. For example: `/request-access &lt;resource&gt; 2h &lt;reason&gt;`.',
    );
    expect(say({ kind: 'already-approved-by-you', request: aRequest() })).toBe(
      "You already approved <@U0ALICE>'s request for *Production database* (`prod-db`) for 2h. It needs 1 more approval from another owner (1 of 2 approvals: <@U0BOB>).",
    );
    expect(say(REFUSALS[11] as Refusal)).toContain(`is no longer pending: ⛔ Denied by <@U0BOB> at ${when(HOUR)}.`);
  });

  it('speaks to a person of their own request as theirs, and of ownership only to owners', () => {
    const decided = REFUSALS[11] as Refusal & { kind: 'already-decided' };
    // Said to the requester herself: her request, not "@Alice's request".
    expect(refusalMessage(decided, decided.request.requester).text).toMatch(
      /^Your request for Production database is no longer pending: ⛔ Denied by <@U0BOB>/,
    );
    expect(refusalMessage(decided, 'U0SOMEONE').text).toMatch(/^<@U0ALICE>'s request for/);
    expect(say({ kind: 'own-request', request: aRequest(), owner: true })).toContain(
      'even as an owner of Production database',
    );
    const notOwner = say({ kind: 'own-request', request: aRequest(), owner: false });
    expect(notOwner).not.toContain('owner of');
    expect(notOwner).toBe(
      'You cannot decide your own request: the owners of Production database approve or deny it, and you will hear from Gatehouse when they do.',
    );
  });

  it('tell a stranger on an alert who may act on it, the person it is about who may acknowledge it instead, and a responder who acknowledged it already or that nothing is left to end', () => {
    expect(say({ kind: 'not-alert-responder', action: 'end_access' })).toBe(
      "Only the owners of the resource this alert is about and the policy's `security` group can end access from it. Nothing was changed, and your attempt has been recorded in the audit log. If it needs attention, tell one of them.",
    );
    expect(say({ kind: 'not-alert-responder', action: 'acknowledge' })).toContain('can acknowledge it.');
    expect(say({ kind: 'alert-about-you' })).toBe(
      "You cannot acknowledge an alert about yourself: acknowledging takes it off everyone's list, so another owner or a member of the policy's `security` group must. Nothing was changed, and your attempt has been recorded in the audit log. If there is an explanation, tell one of them.",
    );
    expect(say({ kind: 'alert-already-acknowledged', by: 'U0DANA' as SlackUserId, at: at(HOUR) })).toBe(
      `<@U0DANA> already acknowledged this alert at ${when(HOUR)}. Nothing more to do here; talk to them if it needs more.`,
    );
    expect(say({ kind: 'alert-nothing-to-end', alert: { id: 'alt_1', title: 'Ana read <b>100,000 rows</b>' } })).toBe(
      'There is no access left to end for *Ana read &lt;b&gt;100,000 rows&lt;/b&gt;* (`alt_1`): it has already ended or is being taken away, or it is not yours to end (an owner ends access to what they own; the `security` group, to anything). `/access` and your Home tab show what is still live.',
    );
  });

  it('have words for every kind, within the limits', () => {
    for (const refusal of REFUSALS) {
      const message = refusalMessage(refusal);
      expect(message.text.length, refusal.kind).toBeGreaterThan(20);
      expect(messageProblems(message), refusal.kind).toEqual([]);
    }
  });
});

describe('/access', () => {
  it("lists live grants with time left and I'm done, and pending requests with Cancel", () => {
    const list = accessList({
      grants: [aGrant(), aGrant({ id: 'grant-0', status: 'ended' })],
      requests: [aRequest()],
      now: at(40 * 60_000),
    });
    expect(list.text).toBe('You hold 1 grant and have 1 pending request.');
    expect(sectionTexts(list)).toEqual([
      '*Your access*',
      `🟢 *Production database* (\`prod-db\`): 1h 20m left, until ${when(2 * HOUR)}`,
      '*Your pending requests*',
      `⏳ *Production database* (\`prod-db\`) for 2h · 1 of 2 approvals: <@U0BOB> · expires ${when(24 * HOUR)}`,
    ]);
    expect(buttons(list.blocks).map((b) => [b.action_id, b.value])).toEqual([
      [ACTION.endGrant, 'grant-1'],
      [ACTION.cancelRequest, 'req-1'],
    ]);
    expect(messageProblems(list)).toEqual([]);
  });

  it('says how to ask when there is nothing, and explains every command', () => {
    expect(accessList({ grants: [], requests: [], now: T0 }).text).toBe(
      'You hold no access and have no pending requests. Ask with `/request-access &lt;resource&gt; [duration] [reason…]`, e.g. `/request-access prod-db 2h fix invoice export`, or just `/request-access` for a form. `/access help` explains every command.',
    );
    const help = blockTexts(accessHelp().blocks).join('\n');
    for (const command of [
      '/request-access &lt;resource&gt; [duration] [reason…]',
      '/access`',
      '/access help',
      '/verify-audit',
      '/request-access prod-db 2h fix invoice export',
    ]) {
      expect(help).toContain(command);
    }
    // Examples are written out, not quoted: a quote marker or an escaped one showed as a literal `>`.
    expect(help).toContain(
      'For example: `/request-access prod-db 2h fix invoice export`, or `/request-access staging`',
    );
    // No quote markers: a line starting with > (or its escape) shows as a literal ">" in Slack.
    expect(help).not.toMatch(/^(>|&gt;)/m);
  });

  it('stays within 50 blocks for a long list', () => {
    const grants = Array.from({ length: 60 }, (_, i) => aGrant({ id: `grant-${i}` }));
    const requests = Array.from({ length: 60 }, (_, i) => aRequest({ id: `req-${i}` }));
    const list = accessList({ grants, requests, now: T0 });
    expect(messageProblems(list)).toEqual([]);
    expect(blockTexts(list.blocks)).toContain(
      '…and 40 more. Open Gatehouse in the sidebar (App Home) to see everything.',
    );
  });
});

describe('modals', () => {
  const resources = [
    { ...PROD, defaultDurationMs: HOUR, maxDurationMs: 4 * HOUR, requireMfa: true },
    {
      id: 'r'.repeat(63),
      name: 'A resource whose name is much longer than a select option may show in Slack',
      defaultDurationMs: HOUR,
      maxDurationMs: HOUR,
    },
  ];

  it('the request form picks from allowed resources, pre-filled, with ids from ids.ts', () => {
    const view = requestModal({
      resources,
      prefill: { resourceId: 'prod-db', duration: '2h', reason: 'fix <it> & more' },
      context: { channelId: 'C0CHAN' },
    });
    expect(problems('modal', view.blocks, view as unknown as Node)).toEqual([]);
    expect(view.callback_id).toBe(VIEW.requestModal);
    expect(view.blocks.map((block) => block.block_id)).toEqual([
      REQUEST_MODAL.resource.block,
      REQUEST_MODAL.duration.block,
      REQUEST_MODAL.reason.block,
      REQUEST_MODAL.mfaCode.block,
    ]);
    const [resource, duration, reason] = nodes(view.blocks).filter(
      (node) => node.type === 'static_select' || node.type === 'plain_text_input',
    );
    expect(resource).toMatchObject({ action_id: REQUEST_MODAL.resource.action, initial_option: { value: 'prod-db' } });
    expect(duration).toMatchObject({
      action_id: REQUEST_MODAL.duration.action,
      initial_value: '2h',
      placeholder: { text: 'Default: 1h' },
    });
    // Input values are raw text: escaping them would show `&amp;` in the box.
    expect(reason).toMatchObject({
      action_id: REQUEST_MODAL.reason.action,
      multiline: true,
      initial_value: 'fix <it> & more',
    });
    expect(readRequestModalContext(view.private_metadata)).toEqual({ channelId: 'C0CHAN' });
    expect(readRequestModalContext('not json')).toEqual({});
  });

  it('the request form asks for a code when a resource needs MFA: required if every choice does, optional otherwise, absent if none', () => {
    const codeBlock = (view: ReturnType<typeof requestModal>) =>
      view.blocks.find((block) => block.block_id === REQUEST_MODAL.mfaCode.block) as
        { optional?: boolean; hint?: { text: string } } | undefined;
    const chosen = requestModal({ resources, prefill: { resourceId: 'prod-db' } });
    expect(codeBlock(chosen)?.optional).toBeUndefined();
    const either = requestModal({ resources, prefill: {} });
    expect(codeBlock(either)).toMatchObject({
      optional: true,
      hint: { text: expect.stringMatching(/^Needed for prod-db\./) },
    });
    expect(codeBlock(requestModal({ resources, prefill: { resourceId: 'r'.repeat(63) } }))).toBeUndefined();
  });

  it('an approval card shows a code given by the requester and by approvers', () => {
    const card = approvalCard(
      aRequest({ mfaChecked: true, approvals: [{ approver: 'U0BOB', at: T0, mfaChecked: true }] }),
    );
    expect(blockTexts(card.blocks)).toContain('1 of 2 approvals: <@U0BOB> 🔐');
    expect(blockTexts(card.blocks)).toContain('🔐 Requested with an MFA code');
    expect(blockTexts(approvalCard(aRequest()).blocks).join('\n')).not.toContain('🔐');
  });

  it('the code form carries what it is for, and reads back only what it wrote', () => {
    const view = mfaModal({ purpose: 'approve', requestId: 'req-1' }, aRequest());
    expect(view.callback_id).toBe(VIEW.mfaModal);
    expect(readMfaModalContext(view.private_metadata)).toEqual({ purpose: 'approve', requestId: 'req-1' });
    expect(readMfaModalContext(mfaModal({ purpose: 'remove' }).private_metadata)).toEqual({ purpose: 'remove' });
    expect(readMfaModalContext('{"purpose":"request"}')).toBeNull();
    expect(readMfaModalContext('not json')).toBeNull();
  });

  it('the request form explains itself when nothing may be requested', () => {
    const view = requestModal({ resources: [], prefill: {} });
    expect(problems('modal', view.blocks, view as unknown as Node)).toEqual([]);
    expect(view.submit).toBeUndefined();
  });

  it('the deny form shows the request it denies, asks for a reason and remembers the request', () => {
    const view = denyModal(aRequest());
    expect(problems('modal', view.blocks, view as unknown as Node)).toEqual([]);
    const shown = JSON.stringify(view.blocks[0]);
    expect(shown).toContain("<@U0ALICE>'s request for *Production database* (`prod-db`) for 2h");
    expect(shown).toContain(`*Why they ask:* ${aRequest().reason}`);
    expect(shown).toContain('1 of 2 approvals: <@U0BOB>');
    expect(view).toMatchObject({ callback_id: VIEW.denyModal, private_metadata: 'req-1' });
    expect(view.blocks[1]).toMatchObject({
      block_id: DENY_MODAL.reason.block,
      element: { action_id: DENY_MODAL.reason.action },
    });
    expect(view.blocks[1]).not.toHaveProperty('optional');
  });
});

describe('App Home', () => {
  it('shows grants, requests and approvals waiting, each with its buttons', () => {
    const home = appHome({
      userId: 'U0BOB',
      grants: [aGrant()],
      requests: [aRequest()],
      approvalsWaiting: [aRequest({ id: 'req-2' })],
      now: T0,
    });
    expect(problems('home', home.blocks, home as unknown as Node)).toEqual([]);
    expect(blockTexts(home.blocks)).toEqual(
      expect.arrayContaining(['Your access', 'Your requests', 'Waiting for your approval']),
    );
    expect(buttons(home.blocks).map((b) => [b.action_id, b.value])).toEqual([
      [ACTION.openRequestModal, undefined],
      [ACTION.endGrant, 'grant-1'],
      [ACTION.cancelRequest, 'req-1'],
      [ACTION.approve, 'req-2'],
      [ACTION.deny, 'req-2'],
    ]);
  });

  it('says where MFA stands, with Set up MFA until it is on, and nothing where MFA is not available', () => {
    const home = (mfa: Parameters<typeof appHome>[0]['mfa']) =>
      appHome({ userId: 'U0BOB', grants: [], requests: [], approvalsWaiting: [], mfa, now: T0 });
    const off = home({ state: 'off', reEnrolling: false, enrolledAt: null, lockedUntil: null });
    expect(buttons(off.blocks).map((b) => b.action_id)).toEqual([ACTION.openRequestModal, ACTION.mfaStart]);
    expect(blockTexts(off.blocks).join('\n')).toContain('MFA is off');
    const on = home({ state: 'on', reEnrolling: false, enrolledAt: T0, lockedUntil: null });
    expect(buttons(on.blocks).map((b) => b.action_id)).toEqual([ACTION.openRequestModal]);
    expect(blockTexts(on.blocks).join('\n')).toContain(`🔐 MFA is on since ${formatWhen(T0)}`);
    expect(blockTexts(home(null).blocks).join('\n')).not.toContain('MFA');
  });

  it('stays within 100 blocks with 200 of everything', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => i);
    const home = appHome({
      userId: 'U0BOB',
      grants: many(200).map((i) => aGrant({ id: `grant-${i}` })),
      requests: many(200).map((i) => aRequest({ id: `req-${i}` })),
      approvalsWaiting: many(200).map((i) => aRequest({ id: `wait-${i}`, reason: 'x'.repeat(5000) })),
      mfa: { state: 'off', reEnrolling: false, enrolledAt: null, lockedUntil: at(HOUR) },
      now: T0,
    });
    expect(home.blocks.length).toBeLessThanOrEqual(100);
    expect(problems('home', home.blocks, home as unknown as Node)).toEqual([]);
    expect(blockTexts(home.blocks).filter((text) => text.startsWith('…and 180 more.'))).toHaveLength(3);
  });
});

function anEvent(seq: number, body: Record<string, unknown> = {}): AuditEventSummary {
  return {
    seq,
    occurredAt: T0,
    actor: seq % 2 ? 'U0ALICE' : 'system',
    action: 'request.created',
    subject: `req-${seq}`,
    body,
    hash: seq.toString(16).padStart(64, 'a'),
  };
}

const SEQS = (n: number) => Array.from({ length: n }, (_, i) => 100 + i);

function anAlert(overrides: Partial<AlertRow> = {}): AlertRow {
  return {
    id: 'alt_1',
    incident_key: 'refusal_burst:U0ANA:1',
    detector: 'refusal_burst',
    severity: 'high',
    subject: 'U0ANA',
    user_id: 'U0ANA' as SlackUserId,
    resource_id: PROD.id,
    grant_id: 'grt_1' as GrantId,
    session_id: null,
    title: 'Ana was refused 5 times in 10 minutes',
    detail: 'Five statements on prod-db were refused: <b>DROP</b> and friends.',
    evidence: [12, 13, 14],
    ends: 'grant',
    raised_at: T0,
    acknowledged_by: null,
    acknowledged_at: null,
    access_ended_by: null,
    access_ended_at: null,
    ...overrides,
  };
}

/** Seqs 12 and 13 are in one audit-channel post; 14 is not posted yet. */
function shown(overrides: Partial<AlertRow> = {}): ShownAlert {
  const post = { channel: 'C0AUDIT01', ts: '1767348000.000200' };
  return {
    alert: anAlert(overrides),
    resource: PROD,
    evidence: [
      { seq: 12, post },
      { seq: 13, post },
      { seq: 14, post: null },
    ],
  };
}

describe('alerts', () => {
  it('say at a glance what happened, to whom, when, and link the evidence to the audit channel, with End access now and Acknowledge', () => {
    const message = alertMessage(shown());
    expect(message.text).toBe('⚠️ High: Ana was refused 5 times in 10 minutes');
    expect(sectionTexts(message)).toEqual([
      '⚠️ *High: Ana was refused 5 times in 10 minutes*\nFive statements on prod-db were refused: &lt;b&gt;DROP&lt;/b&gt; and friends.',
      [
        '*About:* <@U0ANA> on *Production database* (`prod-db`)',
        `*Raised:* ${when(0)}`,
        '*Evidence:* 3 audit events: <https://slack.com/archives/C0AUDIT01/p1767348000000200|#12>, <https://slack.com/archives/C0AUDIT01/p1767348000000200|#13>, `#14`',
        'Not in the audit channel yet: check the log with `gatehouse audit verify`',
      ].join('\n'),
    ]);
    expect(buttons(message.blocks)).toMatchObject([
      {
        action_id: ACTION.endAlertAccess,
        value: 'alt_1',
        style: 'danger',
        text: { text: 'End access now' },
        confirm: {
          title: { text: 'End this access now?' },
          text: {
            text: 'End this access to Production database now? Its grant ends at once and its open database sessions are closed. The holder must ask again to get it back.',
          },
          confirm: { text: 'End access' },
        },
      },
      { action_id: ACTION.acknowledgeAlert, value: 'alt_1', text: { text: 'Acknowledge' } },
    ]);
    expect(JSON.stringify(message.blocks.at(-1))).toContain('Alert `alt_1` · `refusal_burst` · grant `grt_1`');
    expect(messageProblems(message)).toEqual([]);
  });

  it('name the session command for a session alert, and the subject when it is about no one', () => {
    const session = alertMessage(shown({ session_id: 'ses_9', user_id: null, resource_id: null }));
    expect(sectionTexts(session)[1]).toContain(
      "The session's statements, from the verified log: `gatehouse audit session ses_9`",
    );
    expect(JSON.stringify(session.blocks)).toContain('session `ses_9`');
    const about = alertMessage({ ...shown({ user_id: null, resource_id: null, subject: 'policy' }), resource: null });
    expect(sectionTexts(about)[1]).toMatch(/^\*About:\* `policy`\n/);
  });

  it('say who acknowledged and who ended the access, and lose each button once it is done', () => {
    const acknowledged = alertMessage(shown({ acknowledged_by: 'U0DANA' as SlackUserId, acknowledged_at: at(HOUR) }));
    expect(sectionTexts(acknowledged)).toContain(`✅ Acknowledged by <@U0DANA> at ${when(HOUR)}`);
    expect(buttons(acknowledged.blocks).map((b) => b.action_id)).toEqual([ACTION.endAlertAccess]);
    expect(acknowledged.text).toContain(`(✅ Acknowledged by <@U0DANA> at ${when(HOUR)})`);

    const ended = alertMessage(shown({ access_ended_by: 'U0SEC' as SlackUserId, access_ended_at: at(2 * HOUR) }));
    expect(sectionTexts(ended)).toContain(`⚪ Access ended by <@U0SEC> at ${when(2 * HOUR)}`);
    expect(buttons(ended.blocks).map((b) => b.action_id)).toEqual([ACTION.acknowledgeAlert]);

    const both = alertMessage(
      shown({
        acknowledged_by: 'U0DANA' as SlackUserId,
        acknowledged_at: at(HOUR),
        access_ended_by: 'U0SEC' as SlackUserId,
        access_ended_at: at(2 * HOUR),
      }),
    );
    expect(sectionTexts(both)).toContain(
      `✅ Acknowledged by <@U0DANA> at ${when(HOUR)}\n⚪ Access ended by <@U0SEC> at ${when(2 * HOUR)}`,
    );
    expect(buttons(both.blocks)).toEqual([]);
  });

  it('offer no End access now on an info note, nor where there is no one whose access to end', () => {
    const note = alertMessage(shown({ severity: 'info', title: 'Ana has not used prod-db this week' }));
    expect(note.text).toBe('ℹ️ Info: Ana has not used prod-db this week');
    expect(buttons(note.blocks).map((b) => b.action_id)).toEqual([ACTION.acknowledgeAlert]);
    const nobody = alertMessage(shown({ severity: 'critical', user_id: null, grant_id: null, ends: 'none' }));
    expect(nobody.text).toMatch(/^🚨 Critical: /);
    expect(buttons(nobody.blocks).map((b) => b.action_id)).toEqual([ACTION.acknowledgeAlert]);
  });

  it('offer no End access now on an alert that ends nothing: about an approver, or access already on its way out', () => {
    // About an approver (most of a resource's approvals are theirs): ending the approver's own access is no answer to it.
    const approver = alertMessage(shown({ detector: 'approval_share', grant_id: null, ends: 'none' }));
    expect(buttons(approver.blocks).map((b) => b.action_id)).toEqual([ACTION.acknowledgeAlert]);
    expect(sectionTexts(approver)[1]).toMatch(/^\*About:\* <@U0ANA> on \*Production database\*/);
    // A revoke that keeps failing names its grant, which is being taken away already.
    const failing = alertMessage(shown({ detector: 'stuck_access', ends: 'none' }));
    expect(buttons(failing.blocks).map((b) => b.action_id)).toEqual([ACTION.acknowledgeAlert]);
    expect(messageProblems(failing)).toEqual([]);
  });

  it("ask before ending all of a person's access, when the alert names no one grant", () => {
    const person = alertMessage(shown({ grant_id: null, ends: 'person' }));
    expect(buttons(person.blocks)).toMatchObject([
      {
        action_id: ACTION.endAlertAccess,
        confirm: {
          text: {
            text: "End all of this person's access to Production database now? Their grants end at once and their open database sessions are closed. They must ask again to get it back.",
          },
        },
      },
      { action_id: ACTION.acknowledgeAlert },
    ]);
    const anywhere = alertMessage({ ...shown({ grant_id: null, resource_id: null, ends: 'person' }), resource: null });
    expect(buttons(anywhere.blocks)[0]).toMatchObject({
      confirm: { text: { text: expect.stringMatching(/^End all of this person's access now\? /) } },
    });
  });

  it('answer the buttons in a few words', () => {
    expect(alertAcknowledgedAnswer().text).toBe('✅ Acknowledged.');
    expect(alertAccessEndedAnswer([{ resourceName: 'Staging database' }]).text).toBe(
      '⚪ Access ended: 1 grant of Staging database. Its sessions are being closed.',
    );
    expect(
      alertAccessEndedAnswer([
        { resourceName: 'Staging database' },
        { resourceName: 'Staging database' },
        { resourceName: 'Production <database>' },
      ]).text,
    ).toBe(
      '⚪ Access ended: 3 grants of Staging database and Production &lt;database&gt;. Their sessions are being closed.',
    );
    expect(alertAccessEndedAnswer([]).text).toBe('⏳ The access this alert is about is already being taken away.');
  });
});

describe('the audit channel', () => {
  it('tells each event in a sentence, its seq, time, action and short hash small beneath, in seq order', () => {
    const message = auditChannelMessage([
      anEvent(2, { resource: 'prod-db', duration_ms: 2 * HOUR, reason: 'fix <it> & go' }),
      anEvent(1),
    ]);
    expect(blockTexts(message.blocks)).toEqual([
      '<@U0ALICE> requested a resource.',
      `\`#1\` · ${when(0)} · request.created · \`req-1\` · \`aaaaaaaaaaaa\``,
      'Gatehouse requested `prod-db`, 2 h: “fix &lt;it&gt; &amp; go”',
      `\`#2\` · ${when(0)} · request.created · \`req-2\` · \`aaaaaaaaaaaa\``,
    ]);
    expect(message.blocks.map((block) => block.type)).toEqual(['section', 'context', 'section', 'context']);
    expect(message.text).toBe(
      'Audit events #1 to #2:\n#1 request.created by <@U0ALICE> on `req-1` (aaaaaaaaaaaa)\n#2 request.created by `system` on `req-2` (aaaaaaaaaaaa)',
    );
  });

  it('batches 30 events with long reasons within the limits, every seq once and in order, no reason cut', () => {
    const events = Array.from({ length: 30 }, (_, i) =>
      anEvent(30 - i, { resource: 'p'.repeat(500), reason: '<&>'.repeat(600) }),
    );
    const message = auditChannelMessage(events);
    expect(messageProblems(message)).toEqual([]);
    expect(message.shown).toBeGreaterThan(0);
    const shownText = blockTexts(message.blocks).join('\n');
    const seqs = [...shownText.matchAll(/`#(\d+)[` ]/g)].map((match) => Number(match[1]));
    expect(seqs).toEqual(Array.from({ length: message.shown }, (_, i) => i + 1));
    // Split across sections, never cut, and never inside an escape.
    expect(shownText.match(/&lt;/g)).toHaveLength(600 * message.shown);
    expect(shownText.match(/&amp;/g)).toHaveLength(600 * message.shown);
    expect(message.text.length).toBeLessThanOrEqual(3000);
  });

  it('packs a catching-up batch of 100 events into one message, its notification text one line', () => {
    const message = auditChannelMessage(Array.from({ length: 100 }, (_, i) => anEvent(i + 1)));
    expect(messageProblems(message)).toEqual([]);
    expect(message.shown).toBeGreaterThanOrEqual(60);
    expect(message.text).toBe(`Audit events #1 to #${message.shown} (${message.shown} events)`);
  });

  it('names the events left out when a batch is far too big for one message', () => {
    const message = auditChannelMessage(
      Array.from({ length: 1000 }, (_, i) => anEvent(i + 1, { reason: 'r'.repeat(500) })),
    );
    expect(messageProblems(message)).toEqual([]);
    expect(blockTexts(message.blocks).at(-1)).toMatch(/^…and \d+ more events \(seq \d+ to 1000\) not shown here\.$/);
  });
});

describe('/verify-audit', () => {
  const unsigned = {
    signed: false,
    keyId: null,
    logId: null,
    checkpoints: null,
    anchors: { checked: 0, latestSeq: null, latestSource: null },
    problems: [],
    warnings: [NO_KEY_WARNING],
  };
  const signed = { ...unsigned, signed: true, keyId: '0123456789abcdef', logId: 'log', warnings: [] };

  it('reports a whole chain with its head, and a broken one with the first bad seq and why', () => {
    const whole = verifyResultMessage({
      ...unsigned,
      ok: true,
      checked: 42,
      headSeq: 42,
      headHash: 'ab'.repeat(32),
      failure: null,
    });
    expect(whole.text).toBe(`✅ The audit log is whole: 42 events checked, head seq 42, hash \`${'ab'.repeat(32)}\`.`);
    expect(blockTexts(whole.blocks).join(' ')).toContain('CANNOT be detected');
    const broken = verifyResultMessage({
      ...unsigned,
      ok: false,
      checked: 6,
      headSeq: 6,
      headHash: 'ab'.repeat(32),
      failure: { seq: 7, reason: 'content-changed', message: 'the stored hash of seq 7 does not match its content' },
    });
    expect(broken.text).toBe(
      '⚠️ The audit log is broken at seq 7: the stored hash of seq 7 does not match its content (`content-changed`). The 6 events before it checked out.',
    );
    expect(messageProblems(whole)).toEqual([]);
    expect(messageProblems(broken)).toEqual([]);
  });

  it('names the anchor that caught a truncation, and says what the checkpoints covered when all is well', () => {
    const problem = {
      reason: 'truncated' as const,
      source: 'audit channel C0AUDIT01 message 1700000000.000100',
      seq: 50,
      message: 'it vouches for seq 50, but the log ends at seq 40.',
    };
    const cut = verifyResultMessage(
      {
        ...signed,
        ok: false,
        checked: 40,
        headSeq: 40,
        headHash: 'ab'.repeat(32),
        failure: null,
        checkpoints: { checked: 3, latestSeq: 30, latestTime: '2026-11-27T00:00:00.000000Z' },
        anchors: { checked: 4, latestSeq: 50, latestSource: problem.source },
        problems: Array.from({ length: 7 }, () => problem),
      },
      ['The anchor file /x does not exist yet: no anchors were read from it.'],
    );
    expect(cut.text).toBe(
      '⚠️ The audit log is NOT whole: `truncated` at seq 50, caught by audit channel C0AUDIT01 message 1700000000.000100. The hash chain itself holds (40 events, head seq 40), but the signed checkpoints show events were removed or rewritten.',
    );
    const lines = blockTexts(cut.blocks);
    // On screen: a link to the message, the reader's own time, the channel by name.
    const anchor = `<https://slack.com/archives/C0AUDIT01/p1700000000000100|the checkpoint posted ${formatWhen(new Date(1_700_000_000_000))}> in <#C0AUDIT01>`;
    expect(lines[0]).toContain(`caught by ${anchor}. `);
    expect(lines[1]).toBe(`✘ \`truncated\` at seq 50 (${anchor}): it vouches for seq 50, but the log ends at seq 40.`);
    expect(lines.join(' ')).not.toMatch(/message \d+\.\d+/);
    expect(lines.filter((line) => line.startsWith('✘ `truncated`'))).toHaveLength(5);
    expect(lines).toContain('…and 2 more problems; `gatehouse audit verify --json` lists them all.');
    expect(lines.join(' ')).toContain('does not exist yet');
    expect(messageProblems(cut)).toEqual([]);

    const whole = verifyResultMessage({
      ...signed,
      ok: true,
      checked: 60,
      headSeq: 60,
      headHash: 'ab'.repeat(32),
      failure: null,
      checkpoints: { checked: 3, latestSeq: 55, latestTime: '2026-11-27T00:00:00.000000Z' },
      anchors: { checked: 2, latestSeq: 55, latestSource: 'anchors.jsonl line 2' },
    });
    expect(blockTexts(whole.blocks)).toEqual([
      whole.text,
      `✔ 3 signed checkpoints in the database checked with key \`0123456789abcdef\`; newest: seq 55, signed ${formatWhen(new Date('2026-11-27T00:00:00Z'))}.`,
      '✔ 2 anchors kept outside the database checked; newest: seq 55 (anchors.jsonl line 2).',
      'Events after seq 55 are not covered by a checkpoint yet.',
    ]);
  });
});

describe("every message within Slack's limits, whatever people type", () => {
  it('holds for long names, ids and reasons', () => {
    const name = 'N&<'.repeat(400);
    const request = aRequest({
      resourceName: name,
      reason: '<b>'.repeat(3000),
      denyReason: '&'.repeat(5000),
      approvalsRequired: 5,
      approvals: Array.from({ length: 5 }, (_, i) => ({ approver: `U0APPROVER${i}`, at: T0 })),
    });
    const grant = aGrant({ resourceName: name });
    const messages: Message[] = [
      approvalCard(request),
      approvalCard({ ...request, status: 'denied', decidedBy: 'U0BOB', decidedAt: T0 }),
      approvalCard(request, { decidedSummary: 'x'.repeat(5000) }),
      sentToApprovers(request, 12),
      approvedDM(request, grant),
      deniedDM(request),
      accessActiveDM(grant),
      loginDM(grant, { user: 'u'.repeat(3000), password: 'p'.repeat(3000) }),
      loginDM(grant, null),
      requestSentDM({ ...request, status: 'denied' }, 12, null),
      expiringSoonDM(grant, 0.5),
      grantEndedDM(grant),
      requestExpiredDM(request),
      provisioningFailingDM({ ...grant, status: 'revoke_failed' }),
      alertMessage({
        alert: anAlert({ title: '<b>'.repeat(300), detail: '&'.repeat(2000), evidence: SEQS(500) }),
        resource: { id: 'x'.repeat(300), name },
        evidence: SEQS(500).map((seq) => ({ seq, post: { channel: 'C0AUDIT01', ts: `1767348000.${seq}` } })),
      }),
      alertAccessEndedAnswer(Array.from({ length: 40 }, (_, i) => ({ resourceName: `${name}${i}` }))),
      mfaEnrolmentDM(
        `otpauth://totp/Gatehouse:${name}?secret=${'A'.repeat(32)}&issuer=Gatehouse`,
        'A'.repeat(32),
        true,
      ),
      mfaStatusMessage({ state: 'on', reEnrolling: true, enrolledAt: T0, lockedUntil: at(HOUR) }),
      mfaLockedDM(T0),
      mfaEnrolledDM(false),
      mfaChangedDM('reset', 'U0ADMIN'),
      mfaEnrolmentStarted(true),
      accessList({ grants: [grant], requests: [request], now: T0 }),
      accessHelp(),
      ...REFUSALS.map((refusal) => refusalMessage(refusal)),
      refusalMessage({
        kind: 'unknown-resource',
        given: 'g'.repeat(5000),
        allowed: Array.from({ length: 500 }, (_, i) => ({ id: `r${i}`, name })),
      }),
    ];
    for (const message of messages) expect(messageProblems(message), message.text.slice(0, 60)).toEqual([]);
    const modal = requestModal({
      resources: Array.from({ length: 150 }, (_, i) => ({
        id: `r${i}`,
        name,
        defaultDurationMs: HOUR,
        maxDurationMs: HOUR,
      })),
      prefill: { reason: 'x'.repeat(5000), duration: 'y'.repeat(100) },
    });
    expect(problems('modal', modal.blocks, modal as unknown as Node)).toEqual([]);
    const deny = denyModal(request);
    expect(problems('modal', deny.blocks, deny as unknown as Node)).toEqual([]);
    const code = mfaModal({ purpose: 'approve', requestId: 'req-1' }, request);
    expect(problems('modal', code.blocks, code as unknown as Node)).toEqual([]);
  });

  it('uses only ids from ids.ts, each unique and at most 255 characters', () => {
    const all = [
      ...Object.values(ACTION),
      ...Object.values(BLOCK),
      ...Object.values(VIEW),
      ...Object.values(REQUEST_MODAL).flatMap((ids) => [ids.block, ids.action]),
      DENY_MODAL.reason.block,
      DENY_MODAL.reason.action,
    ];
    expect(new Set(all).size).toBe(all.length);
    for (const id of all) expect(id.length).toBeLessThanOrEqual(255);
    const used = nodes([
      approvalCard(aRequest()),
      expiringSoonDM(aGrant(), 5),
      accessList({ grants: [aGrant()], requests: [aRequest()], now: T0 }),
      appHome({ userId: 'U0BOB', grants: [aGrant()], requests: [aRequest()], approvalsWaiting: [aRequest()], now: T0 }),
      alertMessage(shown()).blocks,
    ]).flatMap((node) => (typeof node.action_id === 'string' ? [node.action_id] : []));
    for (const id of used) expect(Object.values(ACTION)).toContain(id);
  });
});
