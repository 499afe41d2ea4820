/**
 * The load of bench/busy.ts, in its own process so the app's event loop cannot delay the
 * senders, their clocks, or the receiver of `/verify-audit`'s answers. From a start time
 * the parent chose, all at once:
 * - signed `/request-access` commands at a fixed rate, open loop (a warm-up, then the
 *   counted window), to `commandUrl` (the bare Bolt app, or Gatehouse);
 * - owners clicking Approve through a queue of approval cards, each owner one click at a
 *   time, spread evenly over the window, to Gatehouse;
 * - an auditor's `/verify-audit`, one after another through the window, to Gatehouse;
 * - the audit channel's feed position (head seq, posted seq) read every `pollMs` until the
 *   feed has posted what was chained by the window's end.
 * Results go back over IPC.
 */
import { once } from 'node:events';
import http from 'node:http';
import pg from 'pg';
import { ACTION, BLOCK } from '../src/slack/blocks/ids.ts';
import { APP_ID, TEAM_DOMAIN, TEAM_ID } from '../src/sandbox/fake-slack/protocol.ts';
import { contractorId } from './bench-gatehouse.ts';
import { sendSigned } from './signed-post.ts';

/** An approval card an owner clicks Approve on. */
export interface BusyClick {
  requestId: string;
  owner: string;
  channel: string;
  ts: string;
  responseUrl: string;
}

export interface BusyPlan {
  /** Where `/request-access` goes: the bare Bolt app or Gatehouse. */
  commandUrl: string;
  /** Where clicks and `/verify-audit` go (Gatehouse); null: none are sent. */
  gatehouseUrl: string | null;
  signingSecret: string;
  rate: number;
  warmupSeconds: number;
  seconds: number;
  /** Date.now() at which the first warm-up command leaves; 0: half a second after this process is ready. */
  startAtEpochMs: number;
  /** Command k is contractor `firstIndex + k`, so no one asks twice. */
  firstIndex: number;
  /** `/request-access` response URLs are `<responseBase><responseIdPrefix>-<k>`, registered with the fake Slack. */
  responseBase: string;
  responseIdPrefix: string;
  clicks: BusyClick[];
  /** The policy's auditor: verifies one after another through the window; null: no verification. */
  auditor: string | null;
  verifyTimeoutMs: number;
  /** The app's database, for the feed's position; null: not read. */
  databaseUrl: string | null;
  pollMs: number;
  /** After the window, the feed is read at most this long for it to catch up. */
  feedDrainMs: number;
}

export interface Timed {
  /** ms from the first warm-up command. */
  sentMs: number;
  /** ms to the end of the response; null when it failed. */
  ms: number | null;
  outcome: string;
}

export interface BusyVerification {
  sentMs: number;
  ackMs: number | null;
  /** ms from the first warm-up command to the answer; null when none came in time. */
  answeredMs: number | null;
  whole: boolean;
  answer: string;
}

export interface BusyLoadResult {
  /** The counted window, ms from the first warm-up command. */
  windowStartMs: number;
  windowEndMs: number;
  commands: Timed[];
  clicks: (Timed & { owner: string })[];
  verifications: BusyVerification[];
  /** [ms from the first warm-up command, head seq, posted seq]. */
  feed: [number, number, number][];
  maxLagMs: number;
  /** This process's CPU over the run, ms. */
  cpuMs: number;
}

export type BusyChildMessage = { type: 'counting' } | { type: 'ended' } | { type: 'result'; result: BusyLoadResult };

/** Slack gives up on an ack after 3 s; the senders wait longer, to see the real time. */
const TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const agent = new http.Agent({ keepAlive: true });

function form(fields: Record<string, string>): string {
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

function command(user: string, name: string, text: string, responseUrl: string, trigger: string): string {
  return form({
    user_id: user,
    user_name: user.toLowerCase(),
    command: name,
    text,
    response_url: responseUrl,
    trigger_id: trigger,
  });
}

/** The block_actions body of `click.owner` clicking Approve on the card of `click.requestId`. */
function approveClick(click: BusyClick, n: number): string {
  const payload = {
    type: 'block_actions',
    user: { id: click.owner, username: click.owner.toLowerCase(), name: click.owner.toLowerCase(), team_id: TEAM_ID },
    api_app_id: APP_ID,
    token: 'bench-verification-token',
    container: { type: 'message', message_ts: click.ts, channel_id: click.channel, is_ephemeral: false },
    trigger_id: `bench.busy.approve.${n}.${click.owner}`,
    team: { id: TEAM_ID, domain: TEAM_DOMAIN },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: click.channel, name: click.channel.startsWith('D') ? 'directmessage' : click.channel.toLowerCase() },
    message: { type: 'message', ts: click.ts, text: 'Access request' },
    state: { values: {} },
    response_url: click.responseUrl,
    actions: [
      {
        type: 'button',
        action_id: ACTION.approve,
        block_id: BLOCK.approvalActions,
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        style: 'primary',
        value: click.requestId,
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** Receives `/verify-audit`'s answers; the time is taken when a body has been read whole. */
async function answerReceiver() {
  const waiting = new Map<string, (answer: { at: number; text: string }) => void>();
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
      waiting.get(decodeURIComponent((request.url ?? '').split('/').pop() ?? ''))?.({ at, text });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url: (id: string) => `${origin}/verify/${encodeURIComponent(id)}`,
    answer: (id: string, timeoutMs: number) =>
      new Promise<{ at: number; text: string } | null>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(null);
        }, timeoutMs);
        waiting.set(id, (answer) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(answer);
        });
      }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function run(plan: BusyPlan): Promise<BusyLoadResult> {
  const cpuBefore = process.cpuUsage();
  const receiver = await answerReceiver();
  const feedClient = plan.databaseUrl
    ? new pg.Client({ connectionString: plan.databaseUrl, application_name: 'gatehouse-bench-busy-feed' })
    : null;
  await feedClient?.connect();
  const origin = performance.now() + (plan.startAtEpochMs ? plan.startAtEpochMs - Date.now() : 500);
  const windowStart = origin + plan.warmupSeconds * 1000;
  const windowEnd = windowStart + plan.seconds * 1000;
  const since = () => performance.now() - origin;
  const result: BusyLoadResult = {
    windowStartMs: windowStart - origin,
    windowEndMs: windowEnd - origin,
    commands: [],
    clicks: [],
    verifications: [],
    feed: [],
    maxLagMs: 0,
    cpuMs: 0,
  };
  const inFlight: Promise<void>[] = [];

  const commands = (async () => {
    const intervalMs = 1000 / plan.rate;
    const total = Math.round(plan.rate * (plan.warmupSeconds + plan.seconds));
    for (let k = 0; k < total; k++) {
      const due = origin + k * intervalMs;
      await sleep(due - performance.now());
      result.maxLagMs = Math.max(result.maxLagMs, performance.now() - due);
      const index = plan.firstIndex + k;
      const user = contractorId(index);
      const body = command(
        user,
        '/request-access',
        `prod-db 2h busy day ${index}`,
        `${plan.responseBase}${encodeURIComponent(`${plan.responseIdPrefix}-${k}`)}`,
        `bench.busy.${index}.${user}`,
      );
      const sentMs = since();
      inFlight.push(
        sendSigned(new URL(plan.commandUrl), plan.signingSecret, body, { agent, timeoutMs: TIMEOUT_MS }).then(
          ({ outcome, ms }) => void result.commands.push({ sentMs, ms: outcome === '200' ? ms : null, outcome }),
        ),
      );
    }
  })();

  // Each owner clicks through their own cards, one at a time, spread evenly over the window.
  const owners = [...new Set(plan.clicks.map((c) => c.owner))];
  const clickers = owners.map(async (owner) => {
    const mine = plan.clicks.filter((c) => c.owner === owner);
    const intervalMs = (plan.seconds * 1000) / Math.max(1, mine.length);
    for (const [j, click] of mine.entries()) {
      await sleep(windowStart + j * intervalMs - performance.now());
      if (!plan.gatehouseUrl) return;
      const sentMs = since();
      const { outcome, ms } = await sendSigned(
        new URL(plan.gatehouseUrl),
        plan.signingSecret,
        approveClick(click, result.clicks.length),
        { agent, timeoutMs: TIMEOUT_MS },
      );
      result.clicks.push({ owner, sentMs, ms: outcome === '200' ? ms : null, outcome });
    }
  });

  const verifier = (async () => {
    if (!plan.auditor || !plan.gatehouseUrl) return;
    await sleep(windowStart - performance.now());
    for (let n = 0; performance.now() < windowEnd; n++) {
      const id = `busy-verify-${n}`;
      const answered = receiver.answer(id, plan.verifyTimeoutMs);
      const body = command(plan.auditor, '/verify-audit', '', receiver.url(id), `bench.busy.verify.${n}`);
      const sentMs = since();
      const acked = await sendSigned(new URL(plan.gatehouseUrl), plan.signingSecret, body, {
        agent,
        timeoutMs: TIMEOUT_MS,
      });
      const answer = acked.outcome === '200' ? await answered : null;
      result.verifications.push({
        sentMs,
        ackMs: acked.outcome === '200' ? acked.ms : null,
        answeredMs: answer ? answer.at - origin : null,
        whole: answer?.text.includes('The audit log is whole') ?? false,
        answer: answer?.text.split('\n')[0] ?? '',
      });
      if (!answer) return;
    }
  })();

  const feedReader = (async () => {
    if (!feedClient) return;
    let headAtEnd = Number.POSITIVE_INFINITY;
    for (;;) {
      const { rows } = await feedClient.query<{ head: string | null; posted: string | null }>(
        'select (select max(seq) from audit_events) as head, (select posted_seq from audit_channel_state) as posted',
      );
      const head = Number(rows[0]?.head ?? 0);
      const posted = Number(rows[0]?.posted ?? 0);
      const now = performance.now();
      result.feed.push([now - origin, head, posted]);
      if (now >= windowEnd && headAtEnd === Number.POSITIVE_INFINITY) headAtEnd = head;
      if (posted >= headAtEnd || now > windowEnd + plan.feedDrainMs) return;
      await sleep(plan.pollMs - (performance.now() - now));
    }
  })();

  await sleep(windowStart - performance.now());
  process.send?.({ type: 'counting' } satisfies BusyChildMessage);
  await sleep(windowEnd - performance.now());
  process.send?.({ type: 'ended' } satisfies BusyChildMessage);
  await Promise.all([commands, ...clickers, verifier]);
  await Promise.all(inFlight);
  await feedReader;
  await feedClient?.end();
  agent.destroy();
  await receiver.stop();
  const cpu = process.cpuUsage(cpuBefore);
  result.cpuMs = (cpu.user + cpu.system) / 1000;
  return result;
}

// Parents import only the types above; running the file is what sends.
// The parent went away mid-run: stop sending.
const orphaned = () => process.exit(1);
process.on('disconnect', orphaned);
const plan = JSON.parse(process.argv[2] ?? '') as BusyPlan;
const result = await run(plan);
process.off('disconnect', orphaned);
process.send?.({ type: 'result', result } satisfies BusyChildMessage, () => process.disconnect());
