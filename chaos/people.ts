/**
 * The people of the chaos run as Slack carries them: slash commands, clicks and form
 * submissions sent to the load balancer, signed, with Slack's 3-second patience; and
 * what they see, read from the fake Slack in this process.
 */
import type { FakeSlack, RecordedCall, RecordedResponse, SlackView } from '../src/sandbox/fake-slack/fake-slack.ts';
import { signSlackRequest } from '../src/sandbox/fake-slack/driver.ts';
import { SlackPayloads, type ButtonClick, type ViewSubmission } from '../src/sandbox/fake-slack/payloads.ts';
import { answered, answersTo } from '../test/support/slack-stories.ts';

/** Slack gives an app 3 seconds to answer a command or an interaction. */
const SLACK_PATIENCE_MS = 3000;

export interface Sent {
  /** HTTP status, or the failure's code. */
  outcome: string;
  body: string;
}

export class People {
  readonly payloads: SlackPayloads;
  readonly interactions: Record<string, number> = {};

  constructor(
    readonly fake: FakeSlack,
    private readonly frontUrl: string,
    private readonly secret: string,
  ) {
    this.payloads = new SlackPayloads(fake);
  }

  async command(userId: string, command: string, text: string) {
    const payload = this.payloads.command(userId, command, text);
    const sent = await this.post(new URLSearchParams(payload).toString());
    return { ...sent, responseUrl: payload.response_url, triggerId: payload.trigger_id };
  }

  async click(click: ButtonClick): Promise<Sent & { triggerId: string }> {
    const payload = this.payloads.blockActions(click);
    const sent = await this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
    this.interactions[sent.outcome] = (this.interactions[sent.outcome] ?? 0) + 1;
    return { ...sent, triggerId: payload.trigger_id };
  }

  async submit(submission: ViewSubmission): Promise<Sent> {
    const payload = this.payloads.viewSubmission(submission);
    const sent = await this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
    this.interactions[sent.outcome] = (this.interactions[sent.outcome] ?? 0) + 1;
    return sent;
  }

  /** A click a person repeats (up to 3 times) when Slack said it failed, as people do. */
  async clickUntilTaken(click: ButtonClick): Promise<Sent & { triggerId: string }> {
    let sent = await this.click(click);
    for (let i = 0; i < 2 && sent.outcome !== '200'; i++) {
      await sleep(2000);
      sent = await this.click({ ...click, stale: true });
    }
    return sent;
  }

  /** The response_url posts answering a command or click so far. */
  answersTo(responseUrl: string): RecordedResponse[] {
    return this.fake.responses.filter(answersTo(responseUrl));
  }

  waitForAnswer(responseUrl: string, timeoutMs: number): Promise<RecordedResponse | null> {
    return this.fake.waitForResponse(answersTo(responseUrl), { timeoutMs }).catch(() => null);
  }

  waitForCall(method: string, test: (call: RecordedCall) => boolean, timeoutMs: number): Promise<RecordedCall | null> {
    return this.fake.waitForCall(method, (call) => answered(call) && test(call), { timeoutMs }).catch(() => null);
  }

  /** The form opened for `userId` (views.open answered) with `triggerId`, or null; `match` picks among several. */
  async waitForForm(
    userId: string,
    triggerId: string,
    timeoutMs: number,
    match: (view: SlackView) => boolean = () => true,
  ): Promise<SlackView | null> {
    const call = await this.waitForCall('views.open', (c) => c.args.trigger_id === triggerId, timeoutMs);
    if (!call) return null;
    const callbackId = (call.args.view as { callback_id?: string } | undefined)?.callback_id;
    return (
      this.fake
        .openedViews(userId)
        .filter((v) => v.callback_id === callbackId && match(v))
        .at(-1) ?? null
    );
  }

  private post(body: string): Promise<Sent> {
    const timestamp = Math.floor(Date.now() / 1000);
    return fetch(this.frontUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signSlackRequest(this.secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(SLACK_PATIENCE_MS),
    }).then(
      async (response) => ({ outcome: String(response.status), body: await response.text().catch(() => '') }),
      (err: Error & { cause?: { code?: string } }) => ({
        outcome: err.name === 'TimeoutError' ? 'timeout' : (err.cause?.code ?? err.name),
        body: '',
      }),
    );
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
