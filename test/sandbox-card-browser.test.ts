import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { asSlackUserId, type RequestId } from '../src/access/ids.ts';
import { DEMO, sandboxWorld } from './support/sandbox-page.ts';

const ANA = asSlackUserId(DEMO.ana); // contractor
const DANA = asSlackUserId(DEMO.dana); // database owner

const world = sandboxWorld();

/** The page as `userId` in the bot's DM, read in India's zone (one no test machine is likely to be in). */
async function pageInKolkata(userId: string): Promise<Page> {
  const page = await world.open(userId);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setTimezoneOverride', { timezoneId: 'Asia/Kolkata' });
  await page.reload();
  await page.locator('body[data-ready="true"]').waitFor();
  return page;
}

describe('the approval card on the sandbox page, in Chromium', () => {
  it("shows the owner a header, the requester's history and when it was asked, in the reader's zone", async () => {
    // Ana has had the staging database once before, and gave it back.
    const access = world.sandbox.gatehouse.access;
    const before = await access.request({ requester: ANA, resourceId: 'staging-db', reason: 'a first look' });
    if (!before.ok) throw new Error(`not filed: ${JSON.stringify(before)}`);
    const approved = await access.approve(before.request.id, DANA);
    if (!approved.ok || !approved.grant) throw new Error(`not approved: ${JSON.stringify(approved)}`);
    const grantId = approved.grant.id;
    while ((await access.findGrant(grantId))?.status !== 'active') await new Promise((r) => setTimeout(r, 20));
    expect((await access.release(grantId, ANA)).ok).toBe(true);

    const ana = await world.open(ANA);
    await ana.locator('#line').fill('/request-access staging-db 1h migrate the invoices');
    await ana.locator('#line').press('Enter');
    await ana.locator('.message', { hasText: 'migrate the invoices' }).last().waitFor();

    const dana = await pageInKolkata(DANA);
    const card = dana.locator('.message', { hasText: 'migrate the invoices' }).last();
    await card.waitFor();
    await expect.poll(() => card.locator('.bk-header').first().textContent()).toBe('Access request: Staging database');
    const history = card.locator('.bk-context', { hasText: 'History with' });
    expect(await history.textContent()).toMatch(/History with Staging database: 1 grant \(last .+, 2h\)/);
    expect(await card.textContent()).toContain('Can approve:');

    // "Asked …" is a date token: the page draws it as a time in the reader's zone, not the fallback.
    const requestId = (await access.holdingsOf(ANA)).requests[0]!.id as RequestId;
    const request = (await access.findRequest(requestId))!;
    const asked = card.locator('.bk-context', { hasText: 'Asked' }).locator('time').first();
    const createdAt = new Date(Math.floor(request.createdAt.getTime() / 1000) * 1000);
    expect(await asked.getAttribute('datetime')).toBe(createdAt.toISOString());
    expect(await asked.textContent()).toMatch(/GMT\+5:30|UTC\+5:30|IST/);
    expect(await card.textContent()).not.toContain(createdAt.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(await card.textContent()).toContain(`Request ${requestId}`);
    await world.browser.screenshot(dana, 'approval-card-with-history');
  }, 120_000);
});
