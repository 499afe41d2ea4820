import { randomBytes } from 'node:crypto';
import { WebClient } from '@slack/web-api';
import { generate } from 'otplib';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEMO, message, sandboxWorld, type } from './support/sandbox-page.ts';

const { ana: ANA, bram: BRAM, dana: DANA, fatima: FATIMA, auditChannel: AUDIT_CHANNEL } = DEMO;
const APPROVAL_CHANNEL = DEMO.approvalChannel;

// MFA can be tried in the sandbox: with the embedded database it makes this key itself.
const world = sandboxWorld({ GATEHOUSE_SECRETS_KEY: randomBytes(32).toString('hex') });

/** The page as `userId`, showing `view` (a channel id, `dm` or `home`). */
function pageAs(userId: string, view = 'dm', viewport?: typeof PHONE): Promise<Page> {
  return world.open(userId, view, viewport);
}

/** A phone's screen: the narrow end of what the page is laid out for. */
const PHONE = { width: 375, height: 740 };

/** Whether the page scrolls sideways, which a phone's reader should never have to do. */
function overflowsSideways(page: Page): Promise<boolean> {
  // Given as text: the tests are compiled without the DOM's types.
  return page.evaluate('document.scrollingElement.scrollWidth > innerWidth') as Promise<boolean>;
}

/** Whether `locator`, scrolled to as a reader would, lies wholly on a screen of `size`; polled, as a live update may redraw it. */
async function onScreen(locator: Locator, size: typeof PHONE): Promise<boolean> {
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  return (
    box !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= size.width && box.y + box.height <= size.height
  );
}

describe('the sandbox page, in Chromium', () => {
  it('carries a request from the contractor to the owner and back, to its end, and the auditor finds the chain whole', async () => {
    const ana = await pageAs(ANA);
    await type(ana, '/request-access staging-db 1h fix the invoice export');
    // Typed in the bot's DM, the request is answered there once, by a DM rather than an ephemeral.
    const sent = await message(ana, 'was sent to 2 approvers');
    expect(await sent.textContent()).not.toContain('Only visible to you');
    await world.browser.screenshot(ana, '1-contractor-request-sent');

    const dana = await pageAs(DANA);
    const card = await message(dana, 'asks for Staging database');
    expect(await card.textContent()).toContain('fix the invoice export');
    await world.browser.screenshot(dana, '2-owner-approval-card');
    await card.getByRole('button', { name: 'Approve' }).click();
    // The card is updated in place, live, and loses its buttons.
    await dana.locator('.message', { hasText: 'Approved by @Dana' }).waitFor();
    expect(await dana.locator('.message', { hasText: 'asks for Staging database' }).getByRole('button').count()).toBe(
      0,
    );

    // Ana's page, open all along, shows the grant without a reload.
    await message(ana, 'Your access to Staging database (staging-db) is active until');
    await world.browser.screenshot(ana, '3-contractor-access-active');

    await ana.getByRole('button', { name: 'Gatehouse · Home' }).click();
    const held = ana.locator('#home .bk-section', { hasText: 'Staging database' });
    await held.waitFor();
    await world.browser.screenshot(ana, '4-contractor-app-home');
    await held.getByRole('button', { name: "I'm done" }).click();
    await ana.locator('#home', { hasText: 'You hold no access right now.' }).waitFor();
    await ana.getByRole('button', { name: 'Gatehouse · Messages' }).click();
    await message(ana, 'Your access to Staging database (staging-db) ended at');

    const fatima = await pageAs(FATIMA, AUDIT_CHANNEL);
    await message(fatima, 'grant.active');
    await type(fatima, '/verify-audit');
    const verdict = await message(fatima, 'The audit log is whole', { ephemeral: true });
    expect(await verdict.textContent()).toContain('events checked');
    await world.browser.screenshot(fatima, '5-auditor-verify-audit');
    // What the page showed is what the database holds.
    expect((await world.sandbox.gatehouse.audit.verify()).ok).toBe(true);
  }, 120_000);

  it("refuses a stranger's click on a card in the approval channel, and says why on the page", async () => {
    const ana = await pageAs(ANA);
    await type(ana, '/request-access prod-db 1h read last month’s invoices');
    await message(ana, 'Your request for Production database (read-only) (prod-db) for 1h was sent to 2 approvers');

    const bram = await pageAs(BRAM, APPROVAL_CHANNEL);
    const card = await message(bram, 'asks for Production database');
    await card.getByRole('button', { name: 'Approve' }).click();
    const refusal = await message(bram, 'only its owners can approve or deny this request', { ephemeral: true });
    expect(await refusal.textContent()).toContain('Only visible to you');
    // The card is as it was, and nobody else sees the refusal.
    expect(await card.textContent()).toContain('0 of 2 approvals');
    await world.browser.screenshot(bram, '6-stranger-refused');
    const dana = await pageAs(DANA, APPROVAL_CHANNEL);
    await message(dana, 'asks for Production database');
    expect(await dana.locator('.message', { hasText: 'only its owners' }).count()).toBe(0);
  }, 60_000);

  it('shows the validation errors of a modal on their fields, and submits once they are fixed', async () => {
    const ana = await pageAs(ANA);
    // The composer offers the manifest's commands with their usage hints.
    await ana.locator('#line').fill('/req');
    const hint = ana.locator('#hints li', { hasText: '/request-access' });
    expect(await hint.textContent()).toContain('<resource> [duration, e.g. 2h] [reason…]');
    await type(ana, '/request-access');
    const modal = ana.getByRole('dialog', { name: 'Request access' });
    await modal.waitFor();
    // Cancel closes it; the command opens a fresh one.
    await modal.getByRole('button', { name: 'Cancel' }).click();
    await modal.waitFor({ state: 'detached' });
    await type(ana, '/request-access');
    await modal.waitFor();
    await modal.getByLabel('Resource').selectOption({ label: 'Staging database' });
    await modal.getByLabel('Duration').fill('forever');
    await modal.getByRole('button', { name: 'Send request' }).click();
    // The reason is required: the page says so before anything is sent, as Slack's client does.
    await modal.getByRole('alert').filter({ hasText: 'Please complete this required field.' }).waitFor();

    await modal.getByLabel('Reason').fill('rotate the staging credentials');
    await modal.getByRole('button', { name: 'Send request' }).click();
    // The bot answers `response_action: errors`; the error shows on the Duration field.
    const error = modal.locator('.bk-input', { has: ana.getByLabel('Duration') }).getByRole('alert');
    await error.waitFor();
    expect(await error.textContent()).toContain('"forever" is not a duration');
    expect(await modal.getByLabel('Reason').inputValue()).toBe('rotate the staging credentials');
    await world.browser.screenshot(ana, '7-modal-validation-error');

    await modal.getByLabel('Duration').fill('30m');
    await modal.getByRole('button', { name: 'Send request' }).click();
    await modal.waitFor({ state: 'detached' });
    await message(ana, 'Your request for Staging database (staging-db) for 30m was sent');
  }, 60_000);

  it('draws the Block Kit the bot may send, and asks before a button with a confirm dialog acts', async () => {
    const plain = (text: string) => ({ type: 'plain_text' as const, text });
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await new WebClient('xoxb-sandbox-local-only', {
      slackApiUrl: world.sandbox.fake.apiUrl,
      retryConfig: { retries: 0 },
    }).chat.postMessage({
      channel: AUDIT_CHANNEL,
      text: 'Every kind of block',
      blocks: [
        { type: 'header', text: plain('Weekly access report') },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*Bold*, _italic_, `code` and <@U0SBXDANA>' },
          fields: [
            { type: 'mrkdwn', text: '*Grants*\n3' },
            { type: 'mrkdwn', text: '*Denied*\n1' },
          ],
        },
        { type: 'divider' },
        { type: 'image', image_url: pixel, alt_text: 'a chart', title: plain('Grants per day') },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Made by Gatehouse' }] },
        {
          type: 'actions',
          elements: [
            { type: 'button', action_id: 'report.keep', text: plain('Keep'), style: 'primary', value: 'r1' },
            {
              type: 'button',
              action_id: 'report.delete',
              text: plain('Delete'),
              style: 'danger',
              value: 'r1',
              confirm: {
                title: plain('Delete the report?'),
                text: plain('It cannot be brought back.'),
                confirm: plain('Delete it'),
                deny: plain('Keep it'),
                style: 'danger',
              },
            },
          ],
        },
      ],
    });
    const fatima = await pageAs(FATIMA, AUDIT_CHANNEL);
    const report = await message(fatima, 'Weekly access report');
    expect(await report.locator('.bk-header').textContent()).toBe('Weekly access report');
    expect(await report.locator('strong', { hasText: 'Bold' }).count()).toBe(1);
    expect(await report.locator('.mention').textContent()).toBe('@Dana');
    expect(await report.locator('.bk-field').allTextContents()).toEqual(['Grants3', 'Denied1']);
    expect(await report.locator('.bk-divider').count()).toBe(1);
    expect(await report.getByRole('img', { name: 'a chart' }).count()).toBe(1);
    expect(await report.getByRole('button', { name: 'Keep' }).getAttribute('class')).toContain('bk-primary');
    expect(await report.getByRole('button', { name: 'Delete' }).getAttribute('class')).toContain('bk-danger');

    // Asked first; "Keep it" sends nothing, so the app never hears of the click.
    await report.getByRole('button', { name: 'Delete' }).click();
    const dialog = fatima.getByRole('alertdialog', { name: 'Delete the report?' });
    expect(await dialog.textContent()).toContain('It cannot be brought back.');
    await world.browser.screenshot(fatima, '8-block-kit-and-confirm');
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    await dialog.waitFor({ state: 'detached' });

    // A confirm the bot sends: withdrawing a request from the Home tab.
    const ana = await pageAs(ANA);
    await ana.getByRole('button', { name: 'Gatehouse · Messages' }).click();
    await type(ana, '/request-access audit-exports 2h check the export format');
    await message(ana, 'Your request for Audit log exports bucket (audit-exports) for 2h was sent');
    await ana.getByRole('button', { name: 'Gatehouse · Home' }).click();
    const pending = ana.locator('#home .bk-section', { hasText: 'Audit log exports bucket' });
    await pending.getByRole('button', { name: 'Cancel' }).click();
    await ana
      .getByRole('alertdialog', { name: 'Cancel this request?' })
      .getByRole('button', { name: 'Cancel it' })
      .click();
    await pending.waitFor({ state: 'detached' });
    const { requests } = await world.sandbox.gatehouse.access.holdingsOf(ANA);
    expect(requests.map((r) => r.resourceId)).not.toContain('audit-exports');
  }, 60_000);

  it('enrols in MFA: the QR code arrives as an image by DM, and a code from it turns MFA on', async () => {
    const bram = await pageAs(BRAM);
    await type(bram, '/access mfa');
    const qr = bram.locator('.message .file img');
    await qr.waitFor();
    // The bytes uploaded through files.uploadV2's three steps are what the page shows.
    const width = await qr.evaluate((element) => {
      const img = element as unknown as {
        complete: boolean;
        naturalWidth: number;
        addEventListener(type: string, listener: () => void): void;
      };
      return img.complete
        ? img.naturalWidth
        : new Promise<number>((resolve) => img.addEventListener('load', () => resolve(img.naturalWidth)));
    });
    expect(width).toBeGreaterThan(0);
    await world.browser.screenshot(bram, '9-mfa-qr-code');

    const setup = await message(bram, 'Setting up MFA for Gatehouse');
    const secret = /secret=([A-Z2-7]+)/.exec((await setup.textContent()) ?? '')?.[1];
    expect(secret).toBeDefined();
    await setup.getByRole('button', { name: 'Enter a code' }).click();
    const modal = bram.getByRole('dialog', { name: 'Confirm MFA' });
    await modal.getByLabel('Code from your authenticator app').fill(await generate({ secret: secret! }));
    await modal.getByRole('button', { name: 'Confirm' }).click();
    await modal.waitFor({ state: 'detached' });
    await message(bram, 'MFA is on.');
    // The QR code message is deleted once confirmed, and the page drops it live.
    await qr.waitFor({ state: 'detached' });
  }, 60_000);

  it('withdraws a request from the ephemeral answer, and denies another with a reason from the form', async () => {
    // Typed in a channel, the answer is an ephemeral only its author sees.
    const bram = await pageAs(BRAM, AUDIT_CHANNEL);
    await type(bram, '/request-access staging-db 1h look at the schema');
    const answer = await message(bram, 'Your request for Staging database (staging-db) for 1h was sent', {
      ephemeral: true,
    });
    await answer.getByRole('button', { name: 'Cancel request' }).click();
    await message(bram, 'Your request for Staging database is cancelled.', { ephemeral: true });

    await type(bram, '/request-access staging-db 2h look at the schema again');
    const dana = await pageAs(DANA);
    const card = await message(dana, 'look at the schema again');
    await card.getByRole('button', { name: 'Deny' }).click();
    const form = dana.getByRole('dialog', { name: 'Deny request' });
    await form.getByLabel('Reason').fill('use the read replica instead');
    await form.getByRole('button', { name: 'Deny' }).click();
    await form.waitFor({ state: 'detached' });
    await dana.locator('.message', { hasText: 'Denied by @Dana' }).waitFor();
    await bram.getByRole('button', { name: 'Gatehouse · Messages' }).click();
    await message(bram, 'denied your request for Staging database (staging-db): use the read replica instead');
  }, 60_000);

  it('fits a phone: a request is made and approved at 375 px wide, and nothing scrolls sideways', async () => {
    const fatima = await pageAs(FATIMA, 'dm', PHONE);
    expect(await overflowsSideways(fatima)).toBe(false);
    // The channels and the bot stay one tap away, above the conversation.
    await expect.poll(() => onScreen(fatima.getByRole('button', { name: 'Gatehouse · Home' }), PHONE)).toBe(true);

    await type(fatima, '/request-access');
    const modal = fatima.getByRole('dialog', { name: 'Request access' });
    await modal.waitFor();
    expect(await overflowsSideways(fatima)).toBe(false);
    await modal.getByLabel('Resource').selectOption({ label: 'Staging database' });
    await modal.getByLabel('Duration').fill('1h');
    await modal.getByLabel('Reason').fill('sample the audit trail on staging');
    const send = modal.getByRole('button', { name: 'Send request' });
    await expect.poll(() => onScreen(send, PHONE)).toBe(true);
    await world.browser.screenshot(fatima, '10-phone-request-modal');
    await send.click();
    await modal.waitFor({ state: 'detached' });
    await message(fatima, 'Your request for Staging database (staging-db) for 1h was sent');
    expect(await overflowsSideways(fatima)).toBe(false);

    // Opened wide and then narrowed, as a phone turned upright, the newest message stays in view.
    const dana = await pageAs(DANA);
    const card = await message(dana, 'sample the audit trail on staging');
    await dana.setViewportSize(PHONE);
    await expect
      .poll(() => dana.locator('#messages').evaluate((pane) => pane.scrollHeight - pane.scrollTop - pane.clientHeight))
      .toBeLessThan(2);
    const approve = card.getByRole('button', { name: 'Approve' });
    await expect.poll(() => onScreen(approve, PHONE)).toBe(true);
    expect(await overflowsSideways(dana)).toBe(false);
    await world.browser.screenshot(dana, '11-phone-approval-card');
    await approve.click();
    await dana.locator('.message', { hasText: 'Approved by @Dana' }).waitFor();
    await message(fatima, 'Your access to Staging database (staging-db) is active until');
    expect(await overflowsSideways(fatima)).toBe(false);

    await fatima.getByRole('button', { name: 'Gatehouse · Home' }).click();
    await fatima.locator('#home .bk-section', { hasText: 'Staging database' }).waitFor();
    expect(await overflowsSideways(fatima)).toBe(false);
  }, 60_000);

  it("shows times in the reader's own zone, and says which zone that is", async () => {
    // 2026-01-01 00:00 UTC, which is 05:30 in India: a zone no test machine is likely to be in.
    const newYear = Date.UTC(2026, 0, 1) / 1000;
    await new WebClient('xoxb-sandbox-local-only', {
      slackApiUrl: world.sandbox.fake.apiUrl,
      retryConfig: { retries: 0 },
    }).chat.postMessage({
      channel: AUDIT_CHANNEL,
      text: `Checkpoint due <!date^${newYear}^{date_num} {time}|2026-01-01T00:00:00Z>`,
    });
    const fatima = await pageAs(FATIMA, AUDIT_CHANNEL);
    const cdp = await fatima.context().newCDPSession(fatima);
    await cdp.send('Emulation.setTimezoneOverride', { timezoneId: 'Asia/Kolkata' });
    await fatima.reload();
    await fatima.locator('body[data-ready="true"]').waitFor();

    const due = await message(fatima, 'Checkpoint due');
    const when = due.locator('.bk-text time');
    expect(await when.getAttribute('datetime')).toBe('2026-01-01T00:00:00.000Z');
    const shown = (await when.textContent()) ?? '';
    expect(shown).toContain('2026-01-01');
    expect(shown).toMatch(/\b0?5:30\b/);
    expect(shown).toMatch(/GMT\+5:30|UTC\+5:30|IST/);
    expect(await due.textContent()).not.toContain('2026-01-01T00:00:00Z');
    // When each message was posted carries the zone too.
    expect(await due.locator('.meta .time').textContent()).toMatch(/GMT\+5:30|UTC\+5:30|IST/);
  }, 60_000);
});
