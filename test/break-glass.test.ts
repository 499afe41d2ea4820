import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeUnratified } from '../src/access/break-glass-decisions.ts';
import { asSlackUserId } from '../src/access/ids.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { PolicyError } from '../src/config/policy.ts';
import type { RecordedCall, SlackMessage } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answersTo, buttonsIn, dmTo } from './support/slack-stories.ts';

// Bram is on call for prod-db (two owners must ratify); any contractor may break the glass on staging-db.
const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;
const MINUTE = 60_000;

const POLICY = `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 1h
groups:
  contractors: [${ana}, ${bram}]
  db-owners: [${dana}, ${emil}]
  auditors: [${fatima}]
  oncall: [${bram}]
alerts: { rubber_stamps: false }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 2
    break_glass: { who: [oncall], max_duration: 1h, ratify_within: 15m, quorum: 2, security: [auditors] }
    provisioner: { kind: none }
  - id: staging-db
    name: Staging database
    owners: [db-owners, ${ana}]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 2h
    break_glass: { who: [contractors], max_duration: 30m, security: [auditors] }
    provisioner: { kind: none }
  - id: vault
    name: Secrets vault
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 1h
    require_mfa: true
    break_glass: { who: [oncall], max_duration: 30m, security: [auditors] }
    provisioner: { kind: none }
`;

const marker = (grantId: string) => `Break-glass grant \`${grantId}\``;
const isCopyOf = (grantId: string, blocks: unknown) => JSON.stringify(blocks ?? []).includes(marker(grantId));
const copiesIn = (bot: RunningBot, channel: string, grantId: string): SlackMessage[] =>
  bot.fake.messagesIn(channel).filter((m) => isCopyOf(grantId, m.blocks));
const dm = (userId: string) => `D${userId}`;

/** `/request-access <text>` as `userId`; resolves with the app's answer. */
async function command(bot: RunningBot, userId: string, text: string): Promise<string> {
  const reply = await bot.slack.command(userId, '/request-access', text);
  const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
  return String(answer.body.text);
}

/** Breaks the glass and waits for the alert's four copies; returns the grant's id. */
async function breakGlass(bot: RunningBot, userId: string, text: string, copies: number): Promise<string> {
  const answer = await command(bot, userId, text);
  expect(answer).toMatch(/^🚨 Break-glass access to .* is yours until/);
  const grant = await bot.t.db
    .selectFrom('grants')
    .select('id')
    .where('user_id', '=', asSlackUserId(userId))
    .orderBy('starts_at', 'desc')
    .executeTakeFirstOrThrow();
  await bot.fake.waitForCall('chat.postMessage', (c: RecordedCall) => isCopyOf(grant.id, c.args.blocks), {
    count: copies,
  });
  return grant.id;
}

/** A click on a copy; `stale` for a button the copy no longer shows (a second window left open). */
async function click(
  bot: RunningBot,
  userId: string,
  actionId: string,
  copy: SlackMessage,
  stale?: { value: string },
): Promise<string> {
  const reply = await bot.slack.clickButton({
    userId,
    actionId,
    message: { channel: copy.channel, ts: copy.ts },
    ...(stale ? { stale: true, value: stale.value } : {}),
  });
  const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
  return String(answer.body.text);
}

/** Every copy of the alert shows `pattern` (each was updated through the outbox). */
async function everyCopyShows(bot: RunningBot, grantId: string, channels: string[], pattern: RegExp): Promise<void> {
  for (const channel of channels) {
    const copy = copiesIn(bot, channel, grantId)[0]!;
    await bot.fake.waitForCall(
      'chat.update',
      (c) => c.args.ts === copy.ts && pattern.test(JSON.stringify(c.args.blocks)),
    );
  }
}

async function events(bot: RunningBot, subject: string) {
  await bot.gatehouse.audit.flush();
  return bot.t.db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'body'])
    .where('subject', '=', subject)
    .orderBy('seq')
    .execute();
}

describe('break-glass access, ratified or revoked', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ policy: POLICY, env: { GATEHOUSE_SECRETS_KEY: 'c'.repeat(64) } });
  });
  afterAll(async () => bot.stop());

  it('grants at once, alerts the owners and security with Ratify and Revoke now, and a quorum of owners ratifies it', async () => {
    const grantId = await breakGlass(bot, bram, 'prod-db 30m --break-glass primary is down, failing over', 4);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/));
    const channels = [AUDIT_CHANNEL, dm(dana), dm(emil), dm(fatima)];
    for (const channel of channels) {
      const [copy] = copiesIn(bot, channel, grantId);
      expect(copy?.text).toMatch(
        /broke the glass on \*Production database\*.*revoked automatically unless ratified by/,
      );
      expect(buttonsIn(copy?.blocks).map((b) => b.text)).toEqual(['Ratify', 'Revoke now']);
    }
    // The holder is not alerted about themselves.
    expect(copiesIn(bot, dm(bram), grantId)).toEqual([]);

    const inChannel = copiesIn(bot, AUDIT_CHANNEL, grantId)[0]!;
    expect(await click(bot, mallory, ACTION.ratifyBreakGlass, inChannel)).toBe(
      `Only the owners of the resource may ratify break-glass access: <@${dana}> and <@${emil}>. Nothing was changed, and your attempt has been recorded in the audit log; tell one of them if it needs attention.`,
    );
    expect(await click(bot, bram, ACTION.ratifyBreakGlass, inChannel)).toMatch(
      /^You cannot ratify your own break-glass access/,
    );
    // Security is alerted, and may not decide.
    expect(await click(bot, fatima, ACTION.revokeBreakGlass, copiesIn(bot, dm(fatima), grantId)[0]!)).toMatch(
      /^Only the owners of the resource may revoke/,
    );

    expect(await click(bot, dana, ACTION.ratifyBreakGlass, copiesIn(bot, dm(dana), grantId)[0]!)).toMatch(
      /^✅ Your ratification is counted \(1 of 2\)/,
    );
    await everyCopyShows(bot, grantId, channels, new RegExp(`Not ratified yet\\* \\(1 of 2: <@${dana}>\\)`));
    expect(await click(bot, dana, ACTION.ratifyBreakGlass, copiesIn(bot, dm(dana), grantId)[0]!)).toBe(
      'You already ratified it (1 of 2). It needs 1 more owner to ratify.',
    );
    expect(await click(bot, emil, ACTION.ratifyBreakGlass, copiesIn(bot, dm(emil), grantId)[0]!)).toMatch(
      /^✅ Ratified: \*Production database\*/,
    );
    await everyCopyShows(bot, grantId, channels, /Ratified\* by/);
    const now = copiesIn(bot, dm(emil), grantId)[0]!;
    expect(buttonsIn(bot.fake.message(now.channel, now.ts)?.blocks).map((b) => b.text)).toEqual(['Revoke now']);

    // Past the window, a ratified grant stays.
    const later = { ...bot.gatehouse.access.ctx, now: () => new Date(Date.now() + 16 * MINUTE) };
    expect(await revokeUnratified(later)).toBe(0);
    const grant = await bot.gatehouse.access.findGrant(grantId as never);
    expect(grant?.status).toBe('active');

    const recorded = await events(bot, grantId);
    expect(recorded.map((e) => [e.actor, e.action])).toEqual([
      ['system', 'grant.provisioning'],
      ['system', 'grant.active'],
      [mallory, 'breakglass.action_refused'],
      [bram, 'breakglass.action_refused'],
      [fatima, 'breakglass.action_refused'],
      [dana, 'breakglass.ratification_recorded'],
      [emil, 'breakglass.ratification_recorded'],
      [emil, 'breakglass.ratified'],
    ]);
    expect(recorded[2]!.body).toMatchObject({ action: 'ratify', reason: 'not-owner', user: bram });
    expect(recorded[3]!.body).toMatchObject({ action: 'ratify', reason: 'own-break-glass' });
    expect(recorded[7]!.body).toMatchObject({ ratified_by: [dana, emil], resource: 'prod-db' });
    const taken = (await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'body'])
      .where('action', '=', 'request.break_glass')
      .executeTakeFirstOrThrow()) as { actor: string; body: Record<string, unknown> };
    expect(taken.actor).toBe(bram);
    expect(taken.body).toMatchObject({
      resource: 'prod-db',
      grant: grantId,
      duration_ms: 30 * MINUTE,
      reason: 'primary is down, failing over',
      quorum: 2,
      owners: [dana, emil],
      security: [fatima],
    });

    // An owner may still take ratified access away.
    expect(await click(bot, dana, ACTION.revokeBreakGlass, copiesIn(bot, dm(dana), grantId)[0]!)).toMatch(
      /^⚪ Revoked/,
    );
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /ended/));
    await everyCopyShows(bot, grantId, channels, new RegExp(`Revoked\\* by <@${dana}>`));
    const revoked = (await events(bot, grantId)).filter((e) => e.action === 'breakglass.revoked_by_owner');
    expect(revoked).toEqual([
      {
        actor: dana,
        action: 'breakglass.revoked_by_owner',
        body: expect.objectContaining({ was: 'ratified', grant_live: true }),
      },
    ]);
  });

  it('revokes access nobody ratified within the window, once, and every copy says so', async () => {
    const grantId = await breakGlass(bot, ana, 'staging-db 20m --break-glass replication stuck', 4);
    const channels = [AUDIT_CHANNEL, dm(dana), dm(emil), dm(fatima)];
    // Ana owns staging-db too, and is not asked to ratify her own.
    expect(copiesIn(bot, dm(ana), grantId)).toEqual([]);
    const at = (ms: number) => ({ ...bot.gatehouse.access.ctx, now: () => new Date(Date.now() + ms) });
    expect(await revokeUnratified(at(10 * MINUTE))).toBe(0);
    // Two replicas sweep at once: one revokes it.
    const swept = await Promise.all([revokeUnratified(at(16 * MINUTE)), revokeUnratified(at(16 * MINUTE))]);
    expect(swept.sort()).toEqual([0, 1]);
    await everyCopyShows(bot, grantId, channels, /Revoked automatically\* at .*: not ratified by/);
    const after = copiesIn(bot, AUDIT_CHANNEL, grantId)[0]!;
    expect(buttonsIn(bot.fake.message(after.channel, after.ts)?.blocks)).toEqual([]);
    expect(bot.fake.message(after.channel, after.ts)?.text).toMatch(/revoked automatically: not ratified in time/);
    const grant = await bot.t.db
      .selectFrom('grants')
      .selectAll()
      .where('id', '=', grantId as never)
      .executeTakeFirstOrThrow();
    expect(grant).toMatchObject({ status: 'ended', end_reason: 'revoked' });
    const recorded = (await events(bot, grantId)).map((e) => e.action);
    expect(recorded.filter((a) => a === 'breakglass.unratified_revoked')).toHaveLength(1);
    expect(recorded.slice(-3)).toEqual(['grant.ending', 'breakglass.unratified_revoked', 'grant.revoked']);
    // A late click is told what happened.
    expect(
      await click(bot, dana, ACTION.ratifyBreakGlass, copiesIn(bot, dm(dana), grantId)[0]!, { value: grantId }),
    ).toMatch(/^This break-glass access was already revoked automatically at .*: nobody ratified it in time/);
  });

  it('sets every copy right when the access ends by itself: no Revoke now left, Ratify still there', async () => {
    const grantId = await breakGlass(bot, bram, 'staging-db 2s --break-glass flush the stuck queue', 4);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /ended at .*its time ran out/));
    await everyCopyShows(bot, grantId, [AUDIT_CHANNEL, dm(dana), dm(emil), dm(fatima)], /Access ended/);
    const copy = copiesIn(bot, dm(dana), grantId)[0]!;
    expect(buttonsIn(bot.fake.message(copy.channel, copy.ts)?.blocks).map((b) => b.text)).toEqual(['Ratify']);
  });

  it('refuses break-glass for people and lengths the policy does not allow, and without a reason', async () => {
    expect(await command(bot, ana, 'prod-db 30m --break-glass urgent')).toBe(
      'You are not among the people who may break the glass on *Production database* (`prod-db`). Ask for it the usual way, e.g. `/request-access prod-db 2h &lt;reason&gt;`, and its owners decide.',
    );
    expect(await command(bot, bram, 'staging-db 45m --break-glass urgent')).toBe(
      'Break-glass access to *Staging database* (`staging-db`) lasts at most 30m; you asked for 45m. Ask again for 30m or less, e.g. `/request-access staging-db 30m --break-glass &lt;reason&gt;`.',
    );
    expect(await command(bot, bram, 'staging-db 10m --break-glass')).toMatch(/needs a reason/);
    expect(await command(bot, mallory, 'staging-db 10m --break-glass urgent')).toMatch(/not among the people/);
    await bot.gatehouse.audit.flush();
    const refused = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'body'])
      .where('action', '=', 'request.refused')
      .orderBy('seq')
      .execute();
    expect(refused.map((e) => [e.actor, (e.body as { reason: string }).reason])).toEqual([
      [ana, 'break-glass-not-allowed'],
      [bram, 'break-glass-too-long'],
      [mallory, 'break-glass-not-allowed'],
    ]);
    expect(refused[1]!.body).toMatchObject({ break_glass: true, duration_ms: 45 * MINUTE, max_ms: 30 * MINUTE });
  });

  it('puts every step in the audit channel in words', async () => {
    await bot.settle();
    const channel = bot.fake
      .messagesIn(AUDIT_CHANNEL)
      .map((m) => JSON.stringify(m.blocks))
      .join('\n');
    for (const sentence of [
      `🚨 <@${bram}> broke the glass on *Production database* for 30 min, without approval; revoked unless ratified by`,
      `<@${mallory}> tried to ratify break-glass access to *Production database* and was refused: they are not an owner.`,
      `<@${bram}> tried to ratify break-glass access to *Production database* and was refused: it is their own break-glass access.`,
      `<@${dana}> ratified <@${bram}>'s break-glass access to *Production database* (1 of 2).`,
      `<@${bram}>'s break-glass access to *Production database* is ratified.`,
      `<@${dana}> revoked <@${bram}>'s break-glass access to *Production database*.`,
      `Gatehouse revoked <@${ana}>'s break-glass access to *Staging database*: not ratified in time (0 of 1).`,
    ])
      expect(channel).toContain(sentence);
  });
});

describe('break-glass on a resource with require_mfa', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ policy: POLICY, env: { GATEHOUSE_SECRETS_KEY: 'c'.repeat(64) } });
  });
  afterAll(async () => bot.stop());

  it('still asks for the code, in the command, and checks it', async () => {
    expect(await command(bot, bram, 'vault 10m --break-glass rotate the leaked key')).toMatch(
      /^\*Secrets vault\* \(`vault`\) needs a current code from your authenticator app\..* Break the glass with it: `\/request-access vault 30m --break-glass --code 123456 &lt;reason&gt;`\.$/,
    );
    expect(await command(bot, bram, 'vault 10m --break-glass --code 123456 rotate the leaked key')).toMatch(
      /^You have not set up MFA yet/,
    );
    // Bram enrols (as the Slack flow would, through the access rules) and breaks the glass with a current code.
    const { mfa } = bot.gatehouse.access;
    expect((await mfa.begin(bram)).ok).toBe(true);
    const secret = (await mfa.pendingEnrolment(bram))!.secret;
    const step = Math.floor(Date.now() / 30_000);
    expect((await mfa.confirm(bram, await generate({ secret, epoch: step * 30 }))).ok).toBe(true);
    const code = await generate({ secret, epoch: (step + 1) * 30 });
    const grantId = await breakGlass(bot, bram, `vault 10m --break-glass --code ${code} rotate the leaked key`, 4);
    await bot.gatehouse.audit.flush();
    const taken = await bot.t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'request.break_glass')
      .executeTakeFirstOrThrow();
    expect(taken.body).toMatchObject({ grant: grantId, mfa_checked: true });
    // The code is nowhere on the record or in Slack.
    const everything = await bot.t.db.selectFrom('audit_log').select('body').execute();
    expect(JSON.stringify(everything)).not.toContain(code);
    expect(JSON.stringify(bot.fake.messagesIn(AUDIT_CHANNEL))).not.toContain(code);
  });
});

describe('the break_glass policy block', () => {
  const base = (block: string) => POLICY.replace(/break_glass: \{ who: \[oncall\][^\n]*/, `break_glass: ${block}`);
  const problems = (text: string) => {
    try {
      parsePolicy(text, 'gatehouse.yml');
    } catch (error) {
      if (error instanceof PolicyError) return error.problems.map((p) => `${p.path}: ${p.message}`);
      throw error;
    }
    return [];
  };

  it('reads who, the maximum, the window, the quorum and who else is alerted', () => {
    const policy = parsePolicy(POLICY, 'gatehouse.yml');
    expect(policy.resources[0]!.breakGlass).toEqual({
      who: [bram],
      maxDurationMs: 60 * MINUTE,
      ratifyWithinMs: 15 * MINUTE,
      quorum: 2,
      security: [fatima],
    });
    expect(policy.resources[1]!.breakGlass).toMatchObject({ ratifyWithinMs: 15 * MINUTE, quorum: 1 });
  });

  it('says what is wrong, where, and what is allowed', () => {
    expect(problems(base('{ who: [nobody-group], max_duration: 1h }'))).toEqual([
      'resources[0].break_glass.who[0]: "nobody-group" is not a defined group (defined groups: contractors, db-owners, auditors, oncall): add it under groups or use a Slack user id',
    ]);
    expect(problems(base('{ who: [oncall], max_duration: 5h }'))).toEqual([
      "resources[0].break_glass.max_duration: 5h is longer than the resource's max_duration 4h: break-glass access may not outlast what an approval could give",
    ]);
    expect(problems(base('{ who: [oncall], max_duration: 1h, quorum: 3 }'))).toEqual([
      'resources[0].break_glass.quorum: 3 owners must ratify but there are only 2 distinct owners: lower quorum or add owners',
    ]);
    expect(problems(base('{ who: [], max_duration: 1h }'))).toEqual([
      'resources[0].break_glass.who: needs at least one person: list Slack user ids or group names, like [oncall, U01AB2CD3]',
    ]);
    expect(problems(base('{ who: [oncall], max_duration: 1h, ratify_whithin: 15m }'))[0]).toMatch(
      /^resources\[0\]\.break_glass\.ratify_whithin: unknown key "ratify_whithin" \(did you mean ratify_within\?\)/,
    );
    expect(problems(base('{ who: [oncall] }'))[0]).toMatch(/^resources\[0\]\.break_glass\.max_duration: is required/);
  });
});
