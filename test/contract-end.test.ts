import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noticeContractEnds } from '../src/access/contracts.ts';
import { PolicyError } from '../src/config/policy.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { FakeSlack, type RecordedCall } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { PEOPLE, testAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answersTo, cardFor, cardPostedTo, dmTo, fileRequest } from './support/slack-stories.ts';

// Ana and Bram are contractors; Dana and Emil own both databases (one approval each).
const { ana, bram, dana, emil, fatima } = PEOPLE;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The policy with a `contracts:` section. */
const policyWith = (contracts: string) => `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 1d
groups:
  contractors: [${ana}, ${bram}]
  contractors-acme: [${ana}, ${bram}]
  db-owners: [${dana}, ${emil}]
  auditors: [${fatima}]
alerts: { rubber_stamps: false }
contracts: ${contracts}
resources:
  - id: staging-db
    name: Staging database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 1d
    provisioner: { kind: none }
  - id: reports-db
    name: Reports database
    owners: [${emil}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 1d
    provisioner: { kind: none }
`;

async function answerTo(bot: RunningBot, userId: string, text: string): Promise<string> {
  const reply = await bot.slack.command(userId, '/request-access', text);
  return String((await bot.fake.waitForResponse(answersTo(reply.responseUrl))).body.text);
}

/** The owner presses Approve on their card; resolves with the reply's response URL. */
async function clickApprove(bot: RunningBot, owner: string, requestId: string): Promise<string | undefined> {
  await bot.fake.waitForCall('chat.postMessage', cardPostedTo(owner, requestId));
  const reply = await bot.slack.clickButton({
    userId: owner,
    actionId: ACTION.approve,
    value: requestId,
    message: cardFor(bot.fake, owner, requestId),
  });
  return reply.responseUrl;
}

/** An approval refused: what the owner is told. */
async function refusedApproval(bot: RunningBot, owner: string, requestId: string): Promise<string> {
  const url = await clickApprove(bot, owner, requestId);
  return String((await bot.fake.waitForResponse(answersTo(url))).body.text);
}

async function bodiesOf(bot: RunningBot, action: string) {
  await bot.gatehouse.audit.flush();
  const rows = await bot.t.db
    .selectFrom('audit_log')
    .select(['actor', 'subject', 'body'])
    .where('action', '=', action)
    .orderBy('seq')
    .execute();
  return rows as { actor: string; subject: string | null; body: Record<string, unknown> }[];
}

describe('grants end with the contract', () => {
  let t: TestDatabase;
  let fake: FakeSlack;
  let bot: RunningBot;
  // Exact ends, so that what the test expects does not depend on the time of day.
  const anaEnds = new Date(Math.ceil((Date.now() + 3 * HOUR) / 1000) * 1000);
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
    fake = await FakeSlack.start();
    bot = await startBot({ t, fake, policy: policyWith(`{ ${ana}: ${anaEnds.toISOString()} }`) });
  });
  afterAll(async () => {
    await bot.stop();
    await fake.stop();
    await t.destroy();
  });

  it('shortens a request that would run past the contract, says so to the requester and on the card, and the grant ends with it', async () => {
    const reply = await bot.slack.command(ana, '/request-access', 'staging-db 6h migrate the reports');
    const answer = await bot.fake.waitForResponse(answersTo(reply.responseUrl));
    expect(JSON.stringify(answer.body.blocks)).toContain(`✂️ Shortened to end with <@${ana}>'s contract`);
    const [created] = (await bodiesOf(bot, 'request.created')).filter((e) => e.actor === ana);
    expect(created!.body).toMatchObject({ contract_ends_at: anaEnds.toISOString(), asked_ms: 6 * HOUR });
    const requestId = created!.subject!;
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, requestId));
    const card = bot.fake.message(cardFor(bot.fake, dana, requestId).channel, cardFor(bot.fake, dana, requestId).ts);
    expect(JSON.stringify(card?.blocks)).toContain('Shortened to end with');

    await clickApprove(bot, dana, requestId);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /is active until/));
    const grant = await bot.t.db
      .selectFrom('grants')
      .selectAll()
      .where('request_id', '=', requestId as never)
      .executeTakeFirstOrThrow();
    expect(grant.ends_at.toISOString()).toBe(anaEnds.toISOString());
  });

  it('re-checks an older request at approval against the policy in force, and refuses every request after the end', async () => {
    // Filed under the first policy, where Bram has no contract end.
    const bramsRequest = await fileRequest(bot, bram, 'reports-db 8h quarterly numbers');
    const anasRequest = await fileRequest(bot, ana, 'reports-db 1h quarterly numbers');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(emil, anasRequest));
    await bot.stop();

    // The policy changes: Acme's contract ends in two hours, and Ana's ended on the last day of 2020.
    const bramEnds = new Date(Math.ceil((Date.now() + 2 * HOUR) / 1000) * 1000);
    bot = await startBot({
      t,
      fake,
      policy: policyWith(`{ contractors-acme: ${bramEnds.toISOString()}, ${ana}: 2020-12-31 }`),
    });

    expect(await refusedApproval(bot, emil, anasRequest)).toBe(
      `Your contract ended on 2020-12-31, so Gatehouse refuses every request from you since. If it was extended, ask <@${emil}> to update the policy's \`contracts\` entry.`,
    );
    // Emil's card no longer offers a decision, and says who withdrew it.
    await bot.fake.waitForCall(
      'chat.update',
      (c) =>
        c.args.ts === cardFor(bot.fake, emil, anasRequest).ts && /Withdrawn by Gatehouse/.test(String(c.args.text)),
    );
    const ana2 = await bot.gatehouse.access.findRequest(anasRequest as never);
    expect(ana2).toMatchObject({ status: 'cancelled', decidedBy: 'system' });
    const cancelled = (await bodiesOf(bot, 'request.cancelled')).find((e) => e.subject === anasRequest);
    expect(cancelled).toMatchObject({ actor: 'system', body: { reason: 'contract_ended', resource: 'reports-db' } });

    await clickApprove(bot, emil, bramsRequest);
    await bot.fake.waitForCall('chat.postMessage', dmTo(bram, /is active until/));
    const grant = await bot.t.db
      .selectFrom('grants')
      .selectAll()
      .where('request_id', '=', bramsRequest as never)
      .executeTakeFirstOrThrow();
    expect(grant.ends_at.toISOString()).toBe(bramEnds.toISOString());
    const provisioning = (await bodiesOf(bot, 'grant.provisioning')).find((e) => e.subject === grant.id);
    expect(provisioning?.body).toMatchObject({ contract_ends_at: bramEnds.toISOString() });

    // Ana's grant from before the change does not outlive her contract: the sweep ends it.
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /ended at/));
    const anasGrant = await bot.t.db
      .selectFrom('grants')
      .selectAll()
      .where('user_id', '=', ana)
      .executeTakeFirstOrThrow();
    expect(anasGrant).toMatchObject({ status: 'ended', end_reason: 'expired' });

    expect(await answerTo(bot, ana, 'staging-db 1h one more thing')).toBe(
      `Your contract ended on 2020-12-31, so Gatehouse refuses every request from you since. If it was extended, ask <@${dana}> and <@${emil}> to update the policy's \`contracts\` entry.`,
    );
    const refused = await bodiesOf(bot, 'request.refused');
    expect(refused.at(-1)).toMatchObject({ actor: ana, body: { reason: 'contract-ended', resource: 'staging-db' } });
  });

  it("tells each owner, once, a week before a contractor's end, what access is still recurring for them", async () => {
    // Bram's contract (Acme's) ends within the week and he was granted reports-db today.
    const sweeps = await Promise.all([
      noticeContractEnds(bot.gatehouse.access.ctx),
      noticeContractEnds(bot.gatehouse.access.ctx),
    ]);
    expect(sweeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    const isNotice = (c: RecordedCall) => /contract ends/.test(String(c.args.text));
    await bot.fake.waitForCall('chat.postMessage', (c) => dmTo(emil, /contract ends/)(c) && isNotice(c));
    const notice = bot.fake.dmsTo(emil).find((m) => /contract ends/.test(m.text ?? ''))!;
    expect(notice.text).toMatch(
      new RegExp(
        `^📅 <@${bram}>'s contract ends at .*Access still recurring for them on what you own:\\n• \\*Reports database\\* \\(\`reports-db\`\\): 1 grant in the last 30 days`,
        's',
      ),
    );
    // Dana owns nothing Bram was granted: no notice for her.
    expect(bot.fake.dmsTo(dana).filter((m) => /contract ends/.test(m.text ?? ''))).toEqual([]);

    expect(await noticeContractEnds(bot.gatehouse.access.ctx)).toBe(0);
    const noticed = await bodiesOf(bot, 'contract.ending_noticed');
    // Ana's contract has ended: nothing to notice. Bram's, once.
    expect(noticed).toHaveLength(1);
    expect(noticed[0]).toMatchObject({
      actor: 'system',
      subject: bram,
      body: { user: bram, days: 30, recurring: [{ resource: 'reports-db', grants: 1 }], owners: [emil] },
    });
  });
});

describe('extensions and the contract end', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it('extends only up to the contract end, then refuses with the reason', async () => {
    const probe = testAccess(t);
    const start = probe.clock.now;
    const ends = new Date(start.getTime() + 90 * MINUTE);
    const a = testAccess(t, policyWith(`{ ${bram}: ${ends.toISOString()} }`));
    a.clock.now = start;
    const filed = await a.service.request({
      requester: bram,
      resourceId: 'staging-db',
      duration: '1h',
      reason: 'load test',
    });
    if (!filed.ok) throw new Error(filed.refusal.kind);
    const approved = await a.service.approve(filed.request.id, dana);
    if (!approved.ok || !approved.grant) throw new Error('not approved');
    const asked = await a.service.extend(approved.grant.id, bram, { reason: 'not done', duration: '1h' });
    if (!asked.ok) throw new Error(asked.refusal.kind);
    expect(asked.request).toMatchObject({ durationMs: 30 * MINUTE, contractEndsAt: ends });
    const extended = await a.service.approve(asked.request.id, emil);
    expect(extended.ok && extended.grant?.endsAt).toEqual(ends);
    const again = await a.service.extend(approved.grant.id, bram, { reason: 'still not done', duration: '30m' });
    expect(again).toMatchObject({
      ok: false,
      refusal: { kind: 'extension-past-contract', endsAt: ends, owners: [dana, emil] },
    });
  });
});

describe('the contracts section of the policy', () => {
  const problems = (contracts: string) => {
    try {
      parsePolicy(policyWith(contracts), 'gatehouse.yml');
    } catch (error) {
      if (error instanceof PolicyError) return error.problems.map((p) => `${p.path}: ${p.message}`);
      throw error;
    }
    return [];
  };

  it("reads a person's own end over their groups', and the earliest of their groups'", () => {
    const policy = parsePolicy(
      policyWith(`{ contractors: 2027-03-31, contractors-acme: 2027-01-15, ${ana}: 2027-06-30 }`),
      'gatehouse.yml',
    );
    expect(policy.contracts.get(ana)).toEqual({
      endsAt: new Date('2027-07-01T00:00:00Z'),
      written: '2027-06-30',
      from: ana,
    });
    expect(policy.contracts.get(bram)).toEqual({
      endsAt: new Date('2027-01-16T00:00:00Z'),
      written: '2027-01-15',
      from: 'contractors-acme',
    });
    expect(policy.contracts.get(dana)).toBeUndefined();
  });

  it('says what is wrong and what to write', () => {
    const hint =
      "write the contract's last day as YYYY-MM-DD, like 2027-03-31 (access ends when that day ends, UTC), or an exact time with its offset, like 2027-03-31T18:00:00+01:00";
    expect(problems(`{ ${ana}: 2027-02-30 }`)).toEqual([
      `contracts.${ana}: "2027-02-30" is not a contract end: ${hint}`,
    ]);
    expect(problems(`{ ${ana}: 2027 }`)).toEqual([`contracts.${ana}: 2027 is not a contract end: ${hint}`]);
    expect(problems(`{ ${ana}: 2027-03-31T18:00 }`)).toEqual([
      `contracts.${ana}: "2027-03-31T18:00" is not a contract end: ${hint}`,
    ]);
    expect(problems('{ contractors-globex: 2027-03-31 }')).toEqual([
      'contracts.contractors-globex: "contractors-globex" is not a defined group (defined groups: contractors, contractors-acme, db-owners, auditors): add it under groups or use a Slack user id',
    ]);
    expect(problems('{ Ana Lopez: 2027-03-31 }')[0]).toMatch(/is neither a Slack user id nor a group name/);
    expect(problems('[2027-03-31]')[0]).toMatch(/^contracts: a list is not a set of contracts/);
  });
});
