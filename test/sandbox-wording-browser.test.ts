/**
 * Issue 15, items 3, 5, 6 and 7 as people see them on the sandbox page, in Chromium: one
 * answer per action in the bot's DM, an audit channel of sentences, typed commands that
 * keep what was typed and say why, and feedback where a click gave none.
 */
import { describe, expect, it } from 'vitest';
import { DEMO, message, sandboxWorld, type } from './support/sandbox-page.ts';

const { ana: ANA, bram: BRAM, dana: DANA, fatima: FATIMA, auditChannel: AUDIT_CHANNEL } = DEMO;
const world = sandboxWorld();
const pageAs = (userId: string, view?: string) => world.open(userId, view);

describe('what the sandbox page shows, in Chromium', () => {
  it("answers each action in the bot's DM once, and the audit channel tells it in sentences", async () => {
    const ana = await pageAs(ANA);
    await type(ana, '/request-access staging-db 1h fix the invoice export');
    await message(ana, 'was sent to 2 approvers');
    const dana = await pageAs(DANA);
    const card = await message(dana, 'asks for Staging database');
    await card.getByRole('button', { name: 'Approve' }).click();
    const active = await message(ana, 'Your access to Staging database (staging-db) is active until');
    await active.getByRole('button', { name: "I'm done" }).click();
    await message(ana, 'Your access to Staging database (staging-db) ended at');
    // One answer: the DM saying it ended, no ephemeral copy beside it; the earlier messages now say it ended too.
    expect(
      await ana.locator('.message', { hasText: 'Your access to Staging database (staging-db) ended at' }).count(),
    ).toBe(1);
    await ana.locator('.message', { hasText: 'Access to Staging database (staging-db): ended at' }).waitFor();
    expect(await ana.locator('.message').getByRole('button', { name: "I'm done" }).count()).toBe(0);
    expect(await ana.locator('.message.ephemeral').count()).toBe(0);
    await world.browser.screenshot(ana, 'wording-1-one-answer-per-action');

    // The audit channel: who did what to which resource, in words; ids and hashes kept small.
    const fatima = await pageAs(FATIMA, AUDIT_CHANNEL);
    await message(fatima, "Ana's access to Staging database was taken away.");
    const feed = fatima.locator('#messages');
    await feed.locator('.message', { hasText: 'Staging database' }).first().waitFor();
    const text = (await feed.textContent()) ?? '';
    expect(text).toContain('@Dana approved a request for Staging database (1 of 1).');
    expect(text).toContain('@Ana requested Staging database, 1 h: “fix the invoice export”');
    expect(text).toContain('@Ana gave back their access to Staging database.');
    expect(text).not.toContain('(truncated)');
    await world.browser.screenshot(fatima, 'wording-2-audit-channel-sentences');
  }, 120_000);

  it('keeps what was typed in a command and says on the field why it cannot be used as it is', async () => {
    const bram = await pageAs(BRAM);
    await type(bram, '/request-access staging-db 5hours rebuild the search index');
    const form = bram.getByRole('dialog', { name: 'Request access' });
    await form.waitFor();
    expect(await form.getByLabel('Duration').inputValue()).toBe('5hours');
    expect(await form.getByLabel('Reason').inputValue()).toBe('rebuild the search index');
    expect(await form.textContent()).toContain('⚠️ "5hours" is not a duration');
    await world.browser.screenshot(bram, 'wording-3-typed-command-kept');
    await form.getByRole('button', { name: 'Cancel' }).click();
    await form.waitFor({ state: 'detached' });

    // The help's own example, `/request-access staging`, chooses the closest resource and says so.
    await type(bram, '/request-access staging');
    const chosen = bram.getByRole('dialog', { name: 'Request access' });
    await chosen.waitFor();
    expect(await chosen.textContent()).toContain('"staging" is not a resource id: Staging database (staging-db)');
    await chosen.getByRole('button', { name: 'Cancel' }).click();
  }, 60_000);

  it('says what an approval from the Home tab did, and shows the request a Deny form denies', async () => {
    const bram = await pageAs(BRAM);
    await type(bram, '/request-access staging-db 30m check the cron jobs');
    await message(bram, 'was sent to 2 approvers');
    const dana = await pageAs(DANA, 'home');
    const waiting = dana.locator('#home .bk-section', { hasText: 'check the cron jobs' });
    await waiting.waitFor();
    await dana.locator('#home').getByRole('button', { name: 'Approve' }).first().click();
    const notice = dana.getByRole('dialog', { name: 'Approved' });
    await notice.waitFor();
    expect(await notice.textContent()).toContain('Staging database');
    await world.browser.screenshot(dana, 'wording-4-home-approve-notice');
    await notice.getByRole('button', { name: 'OK' }).click();

    await type(bram, '/request-access audit-exports 2h export last month for the auditors');
    const fatima = await pageAs(FATIMA);
    const card = await message(fatima, 'asks for Audit log exports bucket');
    await card.getByRole('button', { name: 'Deny' }).click();
    const deny = fatima.getByRole('dialog', { name: 'Deny request' });
    await deny.waitFor();
    expect(await deny.textContent()).toContain('export last month for the auditors');
    await deny.getByRole('button', { name: 'Cancel' }).click();
  }, 60_000);
});
