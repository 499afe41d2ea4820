import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, stateRegistry } from '../src/metrics/state.ts';
import { PEOPLE, testAccess } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { approveFromCard, fileRequest } from './support/slack-stories.ts';

const { ana, dana } = PEOPLE;

/** The value of one series in Prometheus text: `name{labels} value`, labels in any order. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(port: number): Promise<{ status: number; text: string; type: string | null }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
}

describe('GET /metrics on the app’s port, when asked for', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ env: { GATEHOUSE_METRICS: 'true' } });
  });
  afterAll(async () => bot.stop());

  it('counts acks, sweeps, provisioning and the chain, from both threads, and reads the deployment’s state', async () => {
    const requestId = await fileRequest(bot, ana, 'staging-db 30m look at the slow query');
    await approveFromCard(bot, dana, requestId);
    await bot.settle();
    const { status, text, type } = await scrape(bot.gatehouse.port);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    // The main thread: Slack's requests acked, the grant provisioned at approval.
    expect(valueOf(text, 'gatehouse_slack_ack_seconds_count', { thread: 'main' })).toBeGreaterThanOrEqual(2);
    expect(
      valueOf(text, 'gatehouse_provisioner_calls_total', { kind: 'none', operation: 'grant', outcome: 'ok' }),
    ).toBe(1);
    // The background thread: its sweeps and the sequencer's batches.
    expect(
      valueOf(text, 'gatehouse_sweep_duration_seconds_count', {
        thread: 'background',
        job: 'end-due-grants',
        outcome: 'ok',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'gatehouse_sequencer_batch_events_sum', { thread: 'background' })).toBeGreaterThan(0);
    expect(valueOf(text, 'gatehouse_background_thread_up')).toBe(1);
    // The state, from the database: the chain's head, the feed caught up, one live grant.
    const head = (await bot.gatehouse.audit.verify()).headSeq;
    expect(valueOf(text, 'gatehouse_audit_chain_head_seq')).toBeGreaterThanOrEqual(head ?? 1);
    expect(valueOf(text, 'gatehouse_grants', { status: 'active' })).toBe(1);
    expect(valueOf(text, 'gatehouse_expiry_lag_seconds')).toBe(0);
    expect(valueOf(text, 'gatehouse_metrics_state_up')).toBe(1);
    expect(valueOf(text, 'gatehouse_process_resident_memory_bytes', { thread: 'main' })).toBeGreaterThan(0);
    // Nothing secret: no token, no signing secret.
    expect(text).not.toContain('xoxb-');
  });
});

describe('GET /metrics on a port of its own, or off', () => {
  it('moves /metrics to GATEHOUSE_METRICS_PORT, off the port Slack reaches', async () => {
    const bot = await startBot({ env: { GATEHOUSE_METRICS_PORT: '0' } });
    try {
      expect(bot.gatehouse.metricsPort).not.toBeNull();
      expect((await scrape(bot.gatehouse.metricsPort!)).status).toBe(200);
      expect((await scrape(bot.gatehouse.port)).status).toBe(404);
    } finally {
      await bot.stop();
    }
  });

  it('is off by default, and with GATEHOUSE_METRICS=false even beside a metrics port', async () => {
    const quiet = await startBot();
    const off = await startBot({ env: { GATEHOUSE_METRICS: 'false', GATEHOUSE_METRICS_PORT: '0' } });
    try {
      expect((await scrape(quiet.gatehouse.port)).status).toBe(404);
      expect(quiet.gatehouse.metricsPort).toBeNull();
      expect((await scrape(off.gatehouse.port)).status).toBe(404);
      expect(off.gatehouse.metricsPort).toBeNull();
    } finally {
      await quiet.stop();
      await off.stop();
    }
  });
});

describe('the Grafana dashboard (deploy/grafana/gatehouse.json)', () => {
  it('asks only for metrics Gatehouse serves', async () => {
    const bot = await startBot({ env: { GATEHOUSE_METRICS: 'true' } });
    try {
      const { text } = await scrape(bot.gatehouse.port);
      const served = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
      const dashboard = JSON.parse(readFileSync('deploy/grafana/gatehouse.json', 'utf8')) as {
        panels: { targets: { expr: string }[] }[];
      };
      const asked = dashboard.panels.flatMap((p) =>
        p.targets.flatMap((t) => [...t.expr.matchAll(/gatehouse_[a-z0-9_]+/g)].map((m) => m[0])),
      );
      expect(asked.length).toBeGreaterThan(10);
      for (const name of asked) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect(served.has(name) || served.has(base), name).toBe(true);
      }
    } finally {
      await bot.stop();
    }
  });
});

describe('the state gauges', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it('say how far past its end the most overdue grant is, and how old the oldest undelivered notification is', async () => {
    const a = testAccess(t);
    const filed = await a.service.request({ requester: ana, resourceId: 'staging-db', reason: 'x' });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    await a.service.approve(filed.request.id, dana);
    // Its end passed 30 s ago and no sweep ran (none runs here).
    await t.query(`update grants set ends_at = now() - interval '30 seconds'`);
    await t.query(`update outbox set created_at = now() - interval '45 seconds'`);
    await readState(t.db);
    const text = await stateRegistry.metrics();
    expect(valueOf(text, 'gatehouse_expiry_lag_seconds')).toBeGreaterThanOrEqual(30);
    expect(valueOf(text, 'gatehouse_expiry_lag_seconds')).toBeLessThan(300);
    expect(valueOf(text, 'gatehouse_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(45);
    expect(valueOf(text, 'gatehouse_outbox_depth')).toBeGreaterThan(0);
    expect(valueOf(text, 'gatehouse_requests_pending')).toBe(0);
    expect(valueOf(text, 'gatehouse_grants', { status: 'active' })).toBe(1);
  });
});
