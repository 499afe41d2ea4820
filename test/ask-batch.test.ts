import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answersTo, approveFromCard, cardPostedTo, dmTo } from './support/slack-stories.ts';

// Two databases with different owners, one of them needing a ticket, asked for in one command.
const { ana, dana, emil } = PEOPLE;

const POLICY = `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 2h
groups:
  contractors: [${ana}]
alerts: { rubber_stamps: false }
resources:
  - id: prod-db
    name: Production database
    owners: [${dana}]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    ticket: { pattern: "^INC-\\\\d+$", example: INC-1 }
    provisioner: { kind: none }
  - id: staging-db
    name: Staging database
    owners: [${emil}]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 2h
    provisioner: { kind: none }
`;

describe('several resources in one request', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ policy: POLICY });
  });
  afterAll(async () => bot.stop());

  it('files one request per resource under one batch, each carded to its owners and decided on its own; the answer lists each', async () => {
    const reply = await bot.slack.command(ana, '/request-access', 'prod-db,staging-db,nope 1h INC-42 tune the indexes');
    const answer = String((await bot.fake.waitForResponse(answersTo(reply.responseUrl))).body.text);
    expect(answer).toMatch(
      /^You asked for 3 resources together \(batch `bat_[0-9a-z]+`\): 2 requests filed, each decided on its own\./,
    );
    expect(answer).toMatch(/• ⏳ \*Production database\* \(`prod-db`\) for 1h: sent to 1 approver \(request `req_/);
    expect(answer).toMatch(/• ⏳ \*Staging database\* \(`staging-db`\) for 1h: sent to 1 approver/);
    expect(answer).toMatch(/• ✋ `nope`: /);

    await bot.gatehouse.audit.flush();
    const created = await bot.t.db
      .selectFrom('audit_log')
      .select(['subject', 'body'])
      .where('action', '=', 'request.created')
      .orderBy('seq')
      .execute();
    expect(created).toHaveLength(2);
    const [prod, staging] = created.map((e) => ({ id: e.subject!, body: e.body as Record<string, unknown> }));
    expect(prod!.body).toMatchObject({ resource: 'prod-db', ticket: 'INC-42', reason: 'tune the indexes' });
    // Staging has no ticket rule: the word stays in its reason.
    expect(staging!.body).toMatchObject({ resource: 'staging-db', reason: 'INC-42 tune the indexes' });
    expect(staging!.body['ticket']).toBeUndefined();
    expect(prod!.body['batch']).toMatch(/^bat_/);
    expect(staging!.body['batch']).toBe(prod!.body['batch']);

    // Each owner has the card of their own resource only, and decides it alone.
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, prod!.id as never));
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(emil, staging!.id as never));
    expect(bot.fake.dmsTo(dana).some((m) => JSON.stringify(m.blocks).includes(staging!.id))).toBe(false);
    await approveFromCard(bot, emil, staging!.id);
    await bot.fake.waitForCall('chat.postMessage', dmTo(ana, /Staging database.*approved|approved.*Staging database/));
    expect((await bot.gatehouse.access.findRequest(staging!.id as never))?.status).toBe('approved');
    expect((await bot.gatehouse.access.findRequest(prod!.id as never))?.status).toBe('pending');
  });
});
