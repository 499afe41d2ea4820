import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEMO, sandboxWorld, type } from './support/sandbox-page.ts';

const { ana: ANA, dana: DANA } = DEMO;

/** A screen the size of the README's screenshots: wide enough for a card, small enough to stay light. */
const SCREEN = { width: 1100, height: 750 };

const HOUR_MS = 3_600_000;

const world = sandboxWorld();

/** The bot's DM as `userId`, on a screen the size of the README's screenshots. */
function dmAs(userId: string): Promise<Page> {
  return world.open(userId, 'dm', SCREEN);
}

/**
 * The message on the page that contains `text`, once it is there, held by its timestamp:
 * an update rewrites its text but keeps its ts, so the locator follows it through each change.
 */
async function message(page: Page, text: string): Promise<Locator> {
  const found = page.locator('.message', { hasText: text }).last();
  await found.waitFor();
  return page.locator(`.message[data-ts="${await found.getAttribute('data-ts')}"]`);
}

/** The names of the buttons `within` shows now; polled by the callers, as a live update redraws it. */
function buttonsOf(within: Locator): Promise<string[]> {
  return within.getByRole('button').allTextContents();
}

/** A screenshot with the pointer parked on the sidebar, so no message shows the grey of a hover. */
async function snap(page: Page, name: string): Promise<void> {
  await page.mouse.move(0, 0);
  await world.browser.screenshot(page, name);
}

/** When the grant ends, as the access-active message shows it: the instant behind its date token. */
async function endShown(activeMessage: Locator): Promise<number> {
  const datetime = await activeMessage.locator('.bk-text time').first().getAttribute('datetime');
  return Date.parse(datetime ?? '');
}

describe('extending access on the sandbox page, in Chromium', () => {
  it('asks for an hour more from the access message, and the owner’s approval moves the end of the same grant; the messages follow each step', async () => {
    const ana = await dmAs(ANA);
    await type(ana, '/request-access staging-db 1h migrate the invoices');
    const sent = await message(ana, 'Your request for Staging database (staging-db) for 1h was sent to 2 approvers');
    expect(await buttonsOf(sent)).toEqual(['Cancel request']);

    // The owner's card: a header, when it was asked, the requester's history, who can approve.
    const dana = await dmAs(DANA);
    const card = await message(dana, 'Access request: Staging database');
    expect(await card.locator('.bk-header').textContent()).toBe('Access request: Staging database');
    expect(await card.textContent()).toContain('Reason: migrate the invoices');
    expect(await card.locator('.bk-context', { hasText: 'Asked' }).textContent()).toContain('for 1h from approval');
    expect(await card.locator('.bk-context', { hasText: 'First request for' }).textContent()).toContain(
      'First request for Staging database by @Ana',
    );
    expect(await card.locator('.bk-context', { hasText: 'Can approve:' }).textContent()).toContain('@Dana and @Emil');
    await snap(dana, 'extend-1-owner-approval-card');
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => card.textContent()).toContain('Approved by @Dana');
    expect(await buttonsOf(card)).toEqual([]);

    // Ana's page, open all along: the request message says what became of it, and its Cancel is gone.
    await expect.poll(() => sent.textContent()).toContain('was approved by @Dana');
    // The grant may be set up a moment after the approval; the message follows it there.
    await expect.poll(() => sent.textContent()).toContain('Your access is active until');
    expect(await buttonsOf(sent)).toEqual([]);
    expect(await ana.getByRole('button', { name: 'Cancel request' }).count()).toBe(0);

    const active = await message(ana, 'Your access to Staging database (staging-db) is active until');
    expect(await buttonsOf(active)).toEqual(['Extend', "I'm done"]);
    const firstEnd = await endShown(active);
    expect(firstEnd).toBeGreaterThan(Date.now());

    // Extend opens the form: how much longer (within the resource's 1d), and why.
    await active.getByRole('button', { name: 'Extend' }).click();
    const form = ana.getByRole('dialog', { name: 'Extend access' });
    await form.waitFor();
    expect(await form.textContent()).toContain('You asked for it because: migrate the invoices');
    const howLong = form.getByLabel('How much longer');
    // The resource's default (2h) is chosen to begin with; nothing past its maximum is offered.
    expect(await howLong.locator('option:checked').textContent()).toBe('2h more');
    const offered = await howLong.locator('option:not([disabled])').allTextContents();
    expect(offered[0]).toBe('15m more');
    expect(offered.at(-1)).toBe('1d more');
    await howLong.selectOption({ label: '1h more' });
    await form.getByLabel('Why you need more time').fill('the migration is still running (INV-482)');
    await snap(ana, 'extend-2-extend-form');
    await form.getByRole('button', { name: 'Ask to extend' }).click();
    await form.waitFor({ state: 'detached' });

    // While the owners decide, the access message says so and offers no second Extend.
    await expect.poll(() => active.textContent()).toContain('You asked to extend it by 1h: waiting for the owners');
    expect(await buttonsOf(active)).toEqual(["I'm done"]);

    // The owner's card for the extension: the first reason, the end now and the end asked for, the time held.
    const extension = await message(dana, 'Extension request: Staging database');
    expect(await extension.locator('.bk-header').textContent()).toBe('Extension request: Staging database');
    const asked = (await extension.textContent()) ?? '';
    expect(asked).toContain('asks to extend access to Staging database (staging-db) by 1h');
    expect(asked).toContain('Reason: the migration is still running (INV-482)');
    expect(asked).toContain('Originally asked for: migrate the invoices');
    expect(asked).toContain('Access now ends');
    expect(asked).toContain('if approved, ends');
    expect(asked).toContain('Held so far:');
    // The section's times: the end now, the end if approved, and since when it is held.
    const times = extension.locator('.bk-text', { hasText: 'Access now ends' }).locator('time');
    const shown = (await times.evaluateAll((nodes) => nodes.map((node) => node.getAttribute('datetime')))).map(
      (datetime) => Date.parse(datetime ?? ''),
    );
    expect(shown.slice(0, 2)).toEqual([firstEnd, firstEnd + HOUR_MS]);
    await snap(dana, 'extend-3-owner-extension-card');
    await extension.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => extension.textContent()).toContain('Approved by @Dana');
    expect(await buttonsOf(extension)).toEqual([]);

    // Ana's access message shows the new end, an hour later, and Extend again.
    await expect.poll(() => endShown(active)).toBe(firstEnd + HOUR_MS);
    expect(await active.textContent()).not.toContain('waiting for the owners');
    await expect.poll(() => buttonsOf(active)).toEqual(['Extend', "I'm done"]);
    const told = await message(ana, 'approved your extension of Staging database (staging-db) by 1h');
    expect(await told.textContent()).toContain('the same access, nothing to reconnect');
    await snap(ana, 'extend-4-contractor-messages-extended');

    // Still one grant: the Home tab lists the database once, ending at the new end.
    await ana.getByRole('button', { name: 'Gatehouse · Home' }).click();
    const held = ana.locator('#home .bk-section', { hasText: 'Staging database' });
    await held.first().waitFor();
    expect(await held.count()).toBe(1);
    expect(Date.parse((await held.locator('time').last().getAttribute('datetime')) ?? '')).toBe(firstEnd + HOUR_MS);
    expect((await world.sandbox.gatehouse.access.holdingsOf(ANA)).grants).toHaveLength(1);
    await ana.getByRole('button', { name: 'Gatehouse · Messages' }).click();

    // I'm done: every message about the grant loses its buttons and says how it ended.
    await active.getByRole('button', { name: "I'm done" }).click();
    await expect
      .poll(() => active.textContent())
      .toMatch(/Access to Staging database \(staging-db\): ended at .+ \(you ended it\)\./);
    await expect.poll(() => buttonsOf(ana.locator('#messages'))).toEqual([]);
    await expect.poll(() => sent.textContent()).toContain('That access ended at');
    await message(ana, 'Your access to Staging database (staging-db) ended at');
    await snap(ana, 'extend-5-contractor-messages-ended');
  }, 120_000);
});
