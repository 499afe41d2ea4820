/**
 * What the people of the chaos run do, each contractor one story at a time: ask for
 * access and have it approved (sometimes extended, through Extend, the form and a second
 * approval), denied through the deny form, or withdraw it; ask for a resource that does
 * not exist; ask for the MFA resource with a code from their authenticator.
 */
import { generate } from 'otplib';
import { ACTION, DENY_MODAL, EXTEND_MODAL, REQUEST_MODAL, VIEW } from '../src/slack/blocks/ids.ts';
import type { SlackMessage } from '../src/sandbox/fake-slack/fake-slack.ts';
import { buttonsIn, cardFor, cardPostedTo } from '../test/support/slack-stories.ts';
import { gatewaySession, lateLogin, loginUrlIn } from './gateway-session.ts';
import { sleep, type People } from './people.ts';
import type { SentCommand, StoryCounts, WorldSettings } from './slack-protocol.ts';

/** How long a person waits for what the app owes them (a card, an answer) before giving up: past a Slack outage. */
const PATIENCE_MS = 150_000;
const TOTP_STEP_S = 30;

export class Stories {
  readonly commands: SentCommand[] = [];
  readonly counts: StoryCounts = {
    started: 0,
    approved: 0,
    denied: 0,
    cancelled: 0,
    extensionsAsked: 0,
    extensionsApproved: 0,
    mfaFiled: 0,
    refusalsProbed: 0,
    gateway: {
      sessions: 0,
      sessionsRefused: 0,
      statements: 0,
      statementsFailed: 0,
      sessionsCut: 0,
      lateLoginsRefused: 0,
      lateLoginsAccepted: [],
    },
    gaveUp: {},
    interactions: {},
  };
  private seq = 0;
  /** Until when each person holds each resource (as far as they know): they do not ask for it again before. */
  private readonly holding = new Map<string, number>();
  /** Grant ids each person has seen, so a new one is told apart. */
  private readonly seenGrants = new Set<string>();
  private readonly totp = new Map<string, { secret: string; lastStep: number }>();
  private readonly seenLogins = new Set<string>();
  /** Late logins waiting for their grant's end: the load waits for them before it reports. */
  readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly people: People,
    private readonly settings: WorldSettings,
  ) {}

  enrolled(userId: string, secret: string, step: number): void {
    this.totp.set(userId, { secret, lastStep: step });
  }

  /** The next code of `userId`'s authenticator that was not used yet (waits for the next step if need be). */
  async nextCode(userId: string): Promise<string> {
    const entry = this.totp.get(userId)!;
    let step = Math.floor(Date.now() / 1000 / TOTP_STEP_S);
    if (step <= entry.lastStep) {
      await sleep((entry.lastStep + 1) * TOTP_STEP_S * 1000 - Date.now() + 50);
      step = entry.lastStep + 1;
    }
    entry.lastStep = step;
    return generate({ secret: entry.secret, epoch: step * TOTP_STEP_S });
  }

  /** One story for `userId`; `quiet` (the end of the run) keeps it short: no extension, 1 minute. */
  async one(userId: string, quiet: boolean): Promise<void> {
    this.counts.started += 1;
    const roll = Math.random();
    if (roll < 0.08) return this.unknownResource(userId);
    if (this.totp.has(userId) && roll < 0.3 && this.free(userId, this.settings.mfaResource))
      return this.mfaRequest(userId);
    const gateway = this.settings.gatewayResource;
    if (roll < 0.45 && this.free(userId, gateway)) return this.gatewayStory(userId, quiet);
    const resource = this.settings.resources.find((r) => this.free(userId, r));
    if (!resource) return sleep(5000);
    const duration = quiet || Math.random() < 0.5 ? '1m' : '2m';
    const ending = Math.random();
    const outcome = ending < 0.6 ? 'approve' : ending < 0.8 ? 'deny' : 'cancel';
    const requestId = await this.request(userId, resource, duration, outcome);
    if (!requestId) return;
    if (outcome === 'cancel') return this.cancel(userId, requestId);
    const owner = this.owner();
    if (outcome === 'deny') return this.deny(owner, requestId);
    if (!(await this.approve(owner, requestId))) return;
    this.holding.set(`${userId}:${resource}`, Date.now() + parseInt(duration, 10) * 60_000 + 5000);
    if (!quiet && Math.random() < 0.35) await this.extend(userId, resource);
  }

  /** Asks for the gateway resource, an owner approves, then a session through the gateway and a login after the end. */
  private async gatewayStory(userId: string, quiet: boolean): Promise<void> {
    const resource = this.settings.gatewayResource;
    const duration = quiet || Math.random() < 0.5 ? '1m' : '2m';
    const requestId = await this.request(userId, resource, duration, 'gateway');
    if (!requestId) return;
    if (!(await this.approve(this.owner(), requestId))) return;
    this.holding.set(`${userId}:${resource}`, Date.now() + parseInt(duration, 10) * 60_000 + 5000);
    // The login message of this resource (its blocks name it), not of another the person holds.
    const call = await this.people.waitForCall(
      'chat.postMessage',
      (c) => {
        const url = loginUrlIn(c.args.blocks);
        return (
          c.args.channel === `D${userId}` &&
          url !== null &&
          !this.seenLogins.has(url) &&
          JSON.stringify(c.args.blocks).includes(`(\`${resource}\`)`)
        );
      },
      PATIENCE_MS,
    );
    const url = call && loginUrlIn(call.args.blocks);
    if (!url) return this.gaveUp('gateway login message');
    this.seenLogins.add(url);
    // The grant's end as its message says it (<!date^unix…>): the message whose buttons carry the grant id the login is named after.
    const grantOf = new URL(url).username.toLowerCase();
    const shown = await until(() => {
      for (const m of this.people.fake.dmsTo(userId)) {
        const ours = buttonsIn(m.blocks).some((b) => b.value?.toLowerCase() === grantOf);
        const unix = /is active until <!date\^(\d+)/.exec(m.text)?.[1];
        if (ours && unix) return (Number(unix) + 1) * 1000;
      }
      return null;
    }, 10_000);
    await gatewaySession({ url, endsAt: shown ?? 0 }, this.counts.gateway);
    if (shown === null) return this.gaveUp('the end of a gateway grant');
    const late = lateLogin({ url, endsAt: shown }, this.counts.gateway, () => shown);
    this.pending.add(late);
    void late.finally(() => this.pending.delete(late));
  }

  private free(userId: string, resource: string): boolean {
    return (this.holding.get(`${userId}:${resource}`) ?? 0) < Date.now();
  }

  private owner(): string {
    return this.settings.owners[Math.floor(Math.random() * this.settings.owners.length)]!;
  }

  private gaveUp(what: string): void {
    this.counts.gaveUp[what] = (this.counts.gaveUp[what] ?? 0) + 1;
  }

  private nextToken(): string {
    this.seq += 1;
    return `t${this.seq}`;
  }

  /** Sends `/request-access` with the text `words(token)` gives, kept for the checks; how Slack's request went. */
  private async command(userId: string, kind: SentCommand['kind'], words: (token: string) => string) {
    const token = this.nextToken();
    const sent: SentCommand = {
      token,
      user: userId,
      kind,
      sentAt: Date.now(),
      ack: '',
      answers: [],
      formShown: false,
      responseUrl: '',
      triggerId: '',
    };
    this.commands.push(sent);
    const reply = await this.people.command(userId, '/request-access', words(token));
    Object.assign(sent, { ack: reply.outcome, responseUrl: reply.responseUrl, triggerId: reply.triggerId });
    return { token, sent, reply };
  }

  /** `/request-access`; the request's id from the answer's Cancel button, or null when none came. */
  private async request(userId: string, resource: string, duration: string, outcome: string): Promise<string | null> {
    const { reply } = await this.command(
      userId,
      'request',
      (token) => `${resource} ${duration} chaos ${token} ${outcome}`,
    );
    if (reply.outcome !== '200') return null;
    const answer = await this.people.waitForAnswer(reply.responseUrl, PATIENCE_MS);
    if (!answer) {
      this.gaveUp('answer to /request-access');
      return null;
    }
    return buttonsIn(answer.body.blocks).find((b) => b.actionId === ACTION.cancelRequest)?.value ?? null;
  }

  private async unknownResource(userId: string): Promise<void> {
    this.counts.refusalsProbed += 1;
    const { reply } = await this.command(userId, 'unknown-resource', (token) => `zz-nosuch-${token} 1m chaos ${token}`);
    if (reply.outcome !== '200') return;
    const answer = await this.people.waitForAnswer(reply.responseUrl, PATIENCE_MS);
    if (!answer) this.gaveUp('answer to an unknown resource');
  }

  private async mfaRequest(userId: string): Promise<void> {
    const resource = this.settings.mfaResource;
    const { token, sent, reply } = await this.command(userId, 'mfa-request', (t) => `${resource} 1m chaos ${t} mfa`);
    if (reply.outcome !== '200') return;
    const [form, answer] = await Promise.race([
      this.people.waitForForm(userId, reply.triggerId, PATIENCE_MS).then((f) => [f, null] as const),
      this.people.waitForAnswer(reply.responseUrl, PATIENCE_MS).then((a) => [null, a] as const),
    ]);
    if (!form) {
      if (!answer) this.gaveUp('MFA request form');
      return;
    }
    const values = {
      [REQUEST_MODAL.resource.block]: {
        [REQUEST_MODAL.resource.action]: { type: 'static_select', selected_option: { value: resource } },
      },
      [REQUEST_MODAL.duration.block]: { [REQUEST_MODAL.duration.action]: { type: 'plain_text_input', value: '1m' } },
      [REQUEST_MODAL.reason.block]: {
        [REQUEST_MODAL.reason.action]: { type: 'plain_text_input', value: `chaos ${token} mfa` },
      },
      [REQUEST_MODAL.mfaCode.block]: {
        [REQUEST_MODAL.mfaCode.action]: { type: 'plain_text_input', value: await this.nextCode(userId) },
      },
    };
    const submitted = await this.people.submit({ userId, viewId: form.id, values });
    if (submitted.outcome !== '200') return;
    if (submitted.body !== '') {
      sent.answers.push(submitted.body);
      return;
    }
    this.counts.mfaFiled += 1;
    const owner = this.owner();
    const card = await this.people.waitForCall(
      'chat.postMessage',
      (c) =>
        (c.args.channel === `D${owner}` || c.args.channel === owner) &&
        JSON.stringify(c.args.blocks ?? []).includes(`chaos ${token}`),
      PATIENCE_MS,
    );
    const requestId = card ? buttonsIn(card.args.blocks).find((b) => b.actionId === ACTION.approve)?.value : undefined;
    if (!requestId) return this.gaveUp('card of an MFA request');
    if (await this.approve(owner, requestId)) this.holding.set(`${userId}:${resource}`, Date.now() + 65_000);
  }

  /** The owner presses a button of the request's card once it is posted; null when it never came. */
  private async clickCard(owner: string, requestId: string, actionId: string) {
    const card = await this.people.waitForCall('chat.postMessage', cardPostedTo(owner, requestId), PATIENCE_MS);
    if (!card) {
      this.gaveUp('approval card');
      return null;
    }
    return this.people.clickUntilTaken({
      userId: owner,
      actionId,
      value: requestId,
      message: cardFor(this.people.fake, owner, requestId),
    });
  }

  private async approve(owner: string, requestId: string): Promise<boolean> {
    const sent = await this.clickCard(owner, requestId, ACTION.approve);
    if (sent?.outcome === '200') this.counts.approved += 1;
    return sent?.outcome === '200';
  }

  private async deny(owner: string, requestId: string): Promise<void> {
    const clicked = await this.clickCard(owner, requestId, ACTION.deny);
    if (clicked?.outcome !== '200') return;
    const form = await this.people.waitForForm(
      owner,
      clicked.triggerId,
      30_000,
      (v) => v.private_metadata === requestId,
    );
    if (!form) return this.gaveUp('deny form');
    const values = {
      [DENY_MODAL.reason.block]: { [DENY_MODAL.reason.action]: { type: 'plain_text_input', value: 'not this week' } },
    };
    const submitted = await this.people.submit({ userId: owner, viewId: form.id, values });
    if (submitted.outcome === '200' && submitted.body === '') this.counts.denied += 1;
  }

  private async cancel(userId: string, requestId: string): Promise<void> {
    // On the ephemeral answer, which Slack keeps no copy of: taken on trust, as Slack does.
    const sent = await this.people.clickUntilTaken({
      userId,
      actionId: ACTION.cancelRequest,
      value: requestId,
      message: { channel: 'C0GENERAL', ts: `${Math.floor(Date.now() / 1000)}.000100`, ephemeral: true },
    });
    if (sent.outcome === '200') this.counts.cancelled += 1;
  }

  /** Extend on the grant's message, the form, then an owner approves the extension's card. */
  private async extend(userId: string, resource: string): Promise<void> {
    const found = await until(() => {
      // A message about this resource's grant only: another's (the gateway resource's) is left alone.
      for (const message of this.people.fake.dmsTo(userId).filter((m) => m.text.includes(`(\`${resource}\`)`))) {
        const button = buttonsIn(message.blocks).find(
          (b) => b.actionId === ACTION.extendGrant && b.value && !this.seenGrants.has(b.value),
        );
        if (button?.value) return { message, grantId: button.value };
      }
      return null;
    }, 60_000);
    if (!found) return this.gaveUp('Extend button');
    this.seenGrants.add(found.grantId);
    const clicked = await this.people.clickUntilTaken({
      userId,
      actionId: ACTION.extendGrant,
      value: found.grantId,
      message: where(found.message),
    });
    if (clicked.outcome !== '200') return;
    const form = await this.people.waitForForm(userId, clicked.triggerId, 30_000);
    if (!form || form.callback_id !== VIEW.extendModal) return this.gaveUp('Extend form');
    const initial = /"initial_option":\{[^}]*\}[^}]*"value":"([^"]+)"/.exec(JSON.stringify(form.blocks))?.[1] ?? '1m';
    const values = {
      [EXTEND_MODAL.duration.block]: {
        [EXTEND_MODAL.duration.action]: { type: 'static_select', selected_option: { value: initial } },
      },
      [EXTEND_MODAL.reason.block]: {
        [EXTEND_MODAL.reason.action]: { type: 'plain_text_input', value: 'chaos: a little longer' },
      },
    };
    const submitted = await this.people.submit({ userId, viewId: form.id, values });
    if (submitted.outcome !== '200' || submitted.body !== '') return;
    this.counts.extensionsAsked += 1;
    const owner = this.owner();
    const card = await until(() => {
      const message = this.people.fake
        .dmsTo(owner)
        .find((m) => m.text.includes(`<@${userId}> asks to extend`) && !this.seenGrants.has(`card:${m.ts}`));
      return message ?? null;
    }, PATIENCE_MS);
    if (!card) return this.gaveUp('extension card');
    this.seenGrants.add(`card:${card.ts}`);
    const requestId = buttonsIn(card.blocks).find((b) => b.actionId === ACTION.approve)?.value;
    if (!requestId) return;
    const sent = await this.people.clickUntilTaken({
      userId: owner,
      actionId: ACTION.approve,
      value: requestId,
      message: where(card),
    });
    if (sent.outcome === '200') {
      this.counts.extensionsApproved += 1;
      this.holding.set(`${userId}:${resource}`, Date.now() + 4 * 60_000);
    }
  }
}

function where(message: SlackMessage): { channel: string; ts: string } {
  return { channel: message.channel, ts: message.ts };
}

/** Polls `check` every 250 ms until it returns something, or null after `timeoutMs`. */
async function until<T>(check: () => T | null, timeoutMs: number): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== null) return found;
    if (Date.now() > deadline) return null;
    await sleep(250);
  }
}
