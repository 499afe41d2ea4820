import type { WebClient } from '@slack/web-api';
import { ShutdownStack } from '../boot/shutdown-stack.ts';
import type { AccessService } from '../access/service.ts';
import type { Checkpointer } from '../audit/checkpoints/checkpointer.ts';
import type { ChainedCue } from '../audit/sequencer.ts';
import type { Config } from '../config/env.ts';
import { resourceById, type LoadedPolicy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { accessJobs, maintenanceJobs, watchJobs } from '../scheduler/jobs.ts';
import { ExpiryTimer } from '../scheduler/expiry-timer.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import type { Notification } from '../access/notifications.ts';
import { OutboxPump } from '../outbox/outbox-pump.ts';
import { AuditFeed } from '../slack/outbound/audit-feed.ts';
import { slackNotifications } from '../slack/outbound/notifications.ts';
import { Watcher } from '../watch/watcher.ts';
import { startSiem } from '../siem/start-siem.ts';

export interface BackgroundContext {
  config: Config;
  policy: LoadedPolicy;
  db: Db;
  /** For the expiry timer's listening connection. */
  databaseUrl: string;
  access: AccessService;
  log: Logger;
  /** Null when Slack is not configured: then only the sweeps run. */
  client: WebClient | null;
  checkpointer: Checkpointer | null;
  cue: ChainedCue;
}

/** The work no one waits for: the sweeps, the outbox notifier and the audit feed. */
export interface BackgroundWork {
  scheduler: Scheduler;
  /** Null when GATEHOUSE_EXPIRY_TIMER is off: grants then end at the sweep's tick. */
  timer: ExpiryTimer | null;
  /** The outbox, delivered to Slack. */
  notifier: OutboxPump<Notification> | null;
  feed: AuditFeed | null;
  /** The detectors over the chain: alerts are recorded with or without Slack. */
  watcher: Watcher;
  stop(): Promise<void>;
}

/**
 * Starts the background work: the sweeps catch up on whatever fell due while no process
 * ran, then keep time; with Slack, the notifier delivers the outbox and the feed posts the
 * chain to the audit channel. All of it is driven from committed state, so it may run in
 * any thread or process, and in several at once.
 */
export async function startBackgroundWork(ctx: BackgroundContext): Promise<BackgroundWork> {
  const parts = new ShutdownStack(ctx.log, 'background shutdown step failed');
  const scheduler = await startSweeps(ctx, parts);
  try {
    const timer = ctx.config.expiryTimer ? await startExpiryTimer(ctx, parts) : null;
    const watcher = startWatcher(ctx, parts);
    await startSiem({ ...ctx, now: ctx.access.ctx.now }, parts);
    const delivery = ctx.client ? await startDelivery(ctx, ctx.client, parts) : { notifier: null, feed: null };
    return { scheduler, timer, watcher, ...delivery, stop: () => parts.stop() };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}

/** The sweeps, after one catch-up run of each. */
async function startSweeps(
  { config, db, access, log, checkpointer }: BackgroundContext,
  parts: ShutdownStack,
): Promise<Scheduler> {
  const jobs = [...accessJobs(access, config), ...watchJobs(access), ...maintenanceJobs(db)];
  if (checkpointer)
    jobs.push({ name: 'checkpoint', pattern: '*/5 * * * * *', run: () => checkpointer.maybeCheckpoint() });
  const scheduler = new Scheduler(jobs, log.child({ component: 'sweeps' }));
  await scheduler.runAll();
  scheduler.start();
  parts.push(() => scheduler.stop());
  return scheduler;
}

/** The watcher: every chained event through the detectors the policy turns on. */
function startWatcher({ access, cue, log }: BackgroundContext, parts: ShutdownStack): Watcher {
  const watcher = new Watcher({
    db: access.ctx.db,
    audit: access.ctx.audit,
    policy: () => access.ctx.policy().policy,
    cue,
    log: log.child({ component: 'watcher' }),
    now: access.ctx.now,
    leadership: true,
  });
  watcher.start();
  parts.push(() => watcher.stop());
  return watcher;
}

async function startExpiryTimer(
  { db, databaseUrl, access, log }: BackgroundContext,
  parts: ShutdownStack,
): Promise<ExpiryTimer> {
  const timer = new ExpiryTimer({
    db,
    databaseUrl,
    endDue: () => access.endDueGrants(),
    log: log.child({ component: 'expiry-timer' }),
  });
  await timer.start();
  parts.push(() => timer.stop());
  return timer;
}

/** The outbox delivered to Slack, and the chain posted to the audit channel. */
async function startDelivery(
  { policy, db, access, log, cue, checkpointer }: BackgroundContext,
  client: WebClient,
  parts: ShutdownStack,
): Promise<Pick<BackgroundWork, 'notifier' | 'feed'>> {
  const now = access.ctx.now;
  const notifierLog = log.child({ component: 'notifier' });
  const slack = slackNotifications({ client, access, policy: () => policy, db, log: notifierLog, now });
  const notifier = new OutboxPump(db, slack, { cue, log: notifierLog, now });
  notifier.start();
  parts.push(() => notifier.stop());
  const feed = new AuditFeed(db, client, cue, log.child({ component: 'audit-feed' }), {
    channel: () => policy.policy.auditChannel,
    resourceName: (id) => resourceById(policy.policy, id)?.name,
    ...(checkpointer ? { checkpointFor: () => checkpointer.checkpointForPost() } : {}),
    now,
  });
  await feed.start();
  parts.push(() => feed.stop());
  return { notifier, feed };
}
