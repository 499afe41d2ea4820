/**
 * Sends signed `/request-access` commands at a fixed rate, open loop: request k leaves at
 * start + k / rate whether or not earlier ones were answered. Runs in its own process so
 * the app's event loop cannot delay the sender or its clock. Tells its parent over IPC
 * when the counted requests begin, then sends the results.
 */
import http from 'node:http';
import { APP_ID, TEAM_DOMAIN, TEAM_ID } from '../src/sandbox/fake-slack/protocol.ts';
import { contractorId } from './bench-gatehouse.ts';
import { sendSigned } from './signed-post.ts';

export interface LoadPlan {
  /** The app's `/slack/events` URL. */
  url: string;
  signingSecret: string;
  rate: number;
  /** Sent first at the same rate, not counted. */
  warmupSeconds: number;
  seconds: number;
  /** Request k is contractor `firstIndex + k`, so no user asks twice within a run. */
  firstIndex: number;
  /** Response URLs are `<responseBase><responseIdPrefix>-<index>`, registered with the fake beforehand. */
  responseBase: string;
  responseIdPrefix: string;
}

export type LoadMessage = { type: 'counting' } | { type: 'result'; result: LoadResult };

export interface LoadResult {
  /** Milliseconds from sending the request to the end of the response, counted requests only. */
  latenciesMs: number[];
  /** Counted requests by HTTP status, or by failure (`timeout`, `ECONNRESET` …). */
  outcomes: Record<string, number>;
  /** Warm-up requests by HTTP status or failure. */
  warmupOutcomes: Record<string, number>;
  /** How late the sender was against its schedule, at worst. */
  maxLagMs: number;
  sent: number;
}

/** Slack gives up on an ack after 3 s; the sender waits longer, to see the real time. */
const TIMEOUT_MS = 10_000;

function commandBody(plan: LoadPlan, index: number): string {
  const userId = contractorId(index);
  return new URLSearchParams({
    token: 'bench-verification-token',
    team_id: TEAM_ID,
    team_domain: TEAM_DOMAIN,
    channel_id: 'C0GENERAL',
    channel_name: 'general',
    user_id: userId,
    user_name: userId.toLowerCase(),
    command: '/request-access',
    text: `prod-db 2h benchmark load ${index}`,
    api_app_id: APP_ID,
    is_enterprise_install: 'false',
    response_url: `${plan.responseBase}${encodeURIComponent(`${plan.responseIdPrefix}-${index}`)}`,
    trigger_id: `bench.${index}.${userId}`,
  }).toString();
}

const agent = new http.Agent({ keepAlive: true });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const url = new URL(plan.url);
  const intervalMs = 1000 / plan.rate;
  const warmup = Math.round(plan.rate * plan.warmupSeconds);
  const total = warmup + Math.round(plan.rate * plan.seconds);
  const result: LoadResult = { latenciesMs: [], outcomes: {}, warmupOutcomes: {}, maxLagMs: 0, sent: 0 };
  const inFlight: Promise<void>[] = [];
  const start = performance.now() + 20;
  for (let k = 0; k < total; k++) {
    const due = start + k * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    result.maxLagMs = Math.max(result.maxLagMs, performance.now() - due);
    const body = commandBody(plan, plan.firstIndex + k);
    const counted = k >= warmup;
    if (k === warmup) process.send?.({ type: 'counting' } satisfies LoadMessage);
    result.sent += 1;
    inFlight.push(
      sendSigned(url, plan.signingSecret, body, { agent, timeoutMs: TIMEOUT_MS }).then(({ outcome, ms }) => {
        const outcomes = counted ? result.outcomes : result.warmupOutcomes;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (counted && outcome === '200') result.latenciesMs.push(ms);
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return result;
}

// Parents import only the types above; running the file is what sends.
// The parent went away mid-run: stop sending.
const orphaned = () => process.exit(1);
process.on('disconnect', orphaned);
const plan = JSON.parse(process.argv[2] ?? '') as LoadPlan;
const result = await runLoad(plan);
process.off('disconnect', orphaned);
process.send?.({ type: 'result', result } satisfies LoadMessage, () => process.disconnect());
