/**
 * The load of bench/verify-ack.ts, in its own process so the app's event loop cannot delay
 * the sender, its clock or the receiver of /verify-audit's answer. Sends signed
 * `/request-access` commands at a fixed rate, open loop, from start to end; meanwhile it
 * marks windows: a quiet (baseline) window of fixed length, then a verification window
 * from sending an auditor's `/verify-audit` to its answer arriving at the `response_url`,
 * which points at a small HTTP server of this process. The parent chooses, before each
 * verification, where the app runs it (its background thread, or the main thread as before
 * `ca56cf2`) and watches the app over each window. Results go back over IPC.
 */
import { once } from 'node:events';
import http from 'node:http';
import { APP_ID, TEAM_DOMAIN, TEAM_ID } from '../src/sandbox/fake-slack/protocol.ts';
import { contractorId } from './bench-gatehouse.ts';
import { sendSigned } from './signed-post.ts';

/** Where the app verifies: its background thread (the code today) or its main thread (before `ca56cf2`). */
export type VerifyWhere = 'background' | 'main';
export type WindowKind = 'baseline' | VerifyWhere;

export interface VerifyAckPlan {
  /** The app's `/slack/events` URL. */
  url: string;
  signingSecret: string;
  rate: number;
  warmupSeconds: number;
  baselineSeconds: number;
  /** After each verification's answer, not counted: its aftermath (the `audit.verified` event, the answer's post). */
  gapSeconds: number;
  rounds: number;
  /** The user in the policy's `auditors` group. */
  auditor: string;
  /** `/request-access` response URLs are `<responseBase><responseIdPrefix>-<index>`, registered with the fake Slack. */
  responseBase: string;
  responseIdPrefix: string;
  /** Contractors in the policy: the sender stops (and says so) rather than have one ask twice. */
  maxCommands: number;
  verifyTimeoutMs: number;
}

export interface LoadWindow {
  kind: WindowKind;
  round: number;
  /** ms from the sender's start (the first warm-up command). */
  startMs: number;
  endMs: number;
  /** Verification windows: the `/verify-audit` POST's own ack (ms), whether the answer says the log is whole, and its first line. */
  verifyAckMs?: number;
  whole?: boolean;
  answer?: string;
  timedOut?: boolean;
}

export interface IdleVerification {
  where: VerifyWhere;
  seconds: number;
  whole: boolean;
  answer: string;
}

export interface SentCommand {
  /** ms from the sender's start. */
  sentMs: number;
  /** ms until the end of the response; null when it failed. */
  ms: number | null;
  outcome: string;
}

export interface VerifyAckResult {
  idle: IdleVerification[];
  windows: LoadWindow[];
  commands: SentCommand[];
  maxLagMs: number;
  /** The sender ran out of contractors before the end. */
  exhausted: boolean;
}

export type ChildMessage =
  | { type: 'where'; where: VerifyWhere }
  | { type: 'window-start'; id: number; kind: WindowKind }
  | { type: 'window-end'; id: number }
  | { type: 'result'; result: VerifyAckResult };
export type ParentMessage = { type: 'where-set'; where: VerifyWhere };

/** Slack gives up on an ack after 3 s; the sender waits longer, to see the real time. */
const TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const agent = new http.Agent({ keepAlive: true });

function body(fields: Record<string, string>): string {
  return new URLSearchParams({
    token: 'bench-verification-token',
    team_id: TEAM_ID,
    team_domain: TEAM_DOMAIN,
    channel_id: 'C0GENERAL',
    channel_name: 'general',
    api_app_id: APP_ID,
    is_enterprise_install: 'false',
    ...fields,
  }).toString();
}

function requestAccessBody(plan: VerifyAckPlan, index: number): string {
  const userId = contractorId(index);
  return body({
    user_id: userId,
    user_name: userId.toLowerCase(),
    command: '/request-access',
    text: `prod-db 2h benchmark load ${index}`,
    response_url: `${plan.responseBase}${encodeURIComponent(`${plan.responseIdPrefix}-${index}`)}`,
    trigger_id: `bench.${index}.${userId}`,
  });
}

/** Receives the answers Bolt's respond() posts to the `/verify-audit` response URLs; the time is taken when a body has been read whole. */
class AnswerReceiver {
  private readonly waiting = new Map<string, (answer: { at: number; text: string }) => void>();
  private constructor(
    private readonly server: http.Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<AnswerReceiver> {
    let receiver: AnswerReceiver | null = null;
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const at = performance.now();
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        let text = '';
        try {
          text = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text?: unknown }).text ?? '');
        } catch {
          text = '(not JSON)';
        }
        const id = decodeURIComponent((request.url ?? '').split('/').pop() ?? '');
        receiver?.waiting.get(id)?.({ at, text });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    receiver = new AnswerReceiver(server, `http://127.0.0.1:${port}`);
    return receiver;
  }

  url(id: string): string {
    return `${this.origin}/verify/${encodeURIComponent(id)}`;
  }

  /** The answer to `id`, or null after `timeoutMs`. */
  answer(id: string, timeoutMs: number): Promise<{ at: number; text: string } | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(answer);
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Resolves when the parent has set where the app verifies. */
function setWhere(where: VerifyWhere): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: ParentMessage) => {
      if (message.type !== 'where-set' || message.where !== where) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send?.({ type: 'where', where } satisfies ChildMessage);
  });
}

async function run(plan: VerifyAckPlan): Promise<VerifyAckResult> {
  const url = new URL(plan.url);
  const receiver = await AnswerReceiver.start();
  const result: VerifyAckResult = { idle: [], windows: [], commands: [], maxLagMs: 0, exhausted: false };
  let verifications = 0;

  /** One `/verify-audit` by the auditor: its ack, and the answer at its response URL. */
  const verify = async () => {
    const id = `verify-${verifications++}`;
    const payload = body({
      user_id: plan.auditor,
      user_name: plan.auditor.toLowerCase(),
      command: '/verify-audit',
      text: '',
      response_url: receiver.url(id),
      trigger_id: `bench.verify.${id}.${plan.auditor}`,
    });
    const answered = receiver.answer(id, plan.verifyTimeoutMs);
    const sent = performance.now();
    const acked = await sendSigned(url, plan.signingSecret, payload, { agent, timeoutMs: TIMEOUT_MS });
    if (acked.outcome !== '200') throw new Error(`/verify-audit got ${acked.outcome}`);
    const answer = await answered;
    return { sent, ackMs: acked.ms, answer };
  };

  // With no load: each way once, to see the verification's own time (and to warm the caches).
  for (const where of ['background', 'main'] as const) {
    await setWhere(where);
    const { sent, answer } = await verify();
    if (!answer) throw new Error(`/verify-audit (${where}, no load) got no answer within ${plan.verifyTimeoutMs} ms`);
    result.idle.push({
      where,
      seconds: (answer.at - sent) / 1000,
      whole: answer.text.includes('The audit log is whole'),
      answer: answer.text.split('\n')[0] ?? '',
    });
  }
  await setWhere('background');

  // The load: from here to the end, at the rate, whatever the windows.
  const intervalMs = 1000 / plan.rate;
  const origin = performance.now() + 20;
  let stopped = false;
  const inFlight: Promise<void>[] = [];
  const sender = (async () => {
    for (let k = 0; !stopped; k++) {
      if (k >= plan.maxCommands) {
        result.exhausted = true;
        return;
      }
      const due = origin + k * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopped) return;
      result.maxLagMs = Math.max(result.maxLagMs, performance.now() - due);
      const sentMs = performance.now() - origin;
      inFlight.push(
        sendSigned(url, plan.signingSecret, requestAccessBody(plan, k), { agent, timeoutMs: TIMEOUT_MS }).then(
          ({ outcome, ms }) => {
            result.commands.push({ sentMs, ms: outcome === '200' ? ms : null, outcome });
          },
        ),
      );
    }
  })();

  let windowId = 0;
  /** A window from now until `work` ends; `work` may name its own bounds (performance.now() times). */
  const window = async (
    kind: WindowKind,
    round: number,
    work: () => Promise<Partial<LoadWindow> & { from?: number; to?: number }>,
  ) => {
    const id = windowId++;
    process.send?.({ type: 'window-start', id, kind } satisfies ChildMessage);
    const started = performance.now();
    const { from = started, to = performance.now(), ...extra } = await work();
    process.send?.({ type: 'window-end', id } satisfies ChildMessage);
    result.windows.push({ kind, round, startMs: from - origin, endMs: to - origin, ...extra });
  };

  await sleep(origin - performance.now() + plan.warmupSeconds * 1000);
  for (let round = 1; round <= plan.rounds && !result.exhausted; round++) {
    // Alternate which way goes first, so a drift in the machine's load falls on both.
    const order: VerifyWhere[] = round % 2 === 1 ? ['background', 'main'] : ['main', 'background'];
    for (const where of order) {
      await setWhere(where);
      await window('baseline', round, async () => {
        await sleep(plan.baselineSeconds * 1000);
        return {};
      });
      // From sending /verify-audit to its answer arriving (or the timeout).
      await window(where, round, async () => {
        const { sent, ackMs, answer } = await verify();
        if (!answer) return { from: sent, verifyAckMs: ackMs, timedOut: true, whole: false, answer: '' };
        return {
          from: sent,
          to: answer.at,
          verifyAckMs: ackMs,
          whole: answer.text.includes('The audit log is whole'),
          answer: answer.text.split('\n')[0] ?? '',
        };
      });
      await sleep(plan.gapSeconds * 1000);
    }
  }
  await setWhere('background');
  stopped = true;
  await sender;
  await Promise.all(inFlight);
  agent.destroy();
  await receiver.stop();
  return result;
}

// Parents import only the types above; running the file is what sends.
// The parent went away mid-run: stop sending.
const orphaned = () => process.exit(1);
process.on('disconnect', orphaned);
const plan = JSON.parse(process.argv[2] ?? '') as VerifyAckPlan;
const result = await run(plan);
process.off('disconnect', orphaned);
process.send?.({ type: 'result', result } satisfies ChildMessage, () => process.disconnect());
