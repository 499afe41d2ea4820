import type { WebClient } from '@slack/web-api';
import type { AccessService } from '../access/service.ts';
import type { Checkpointer } from '../audit/checkpointer.ts';
import type { ChainedCue } from '../audit/sequencer.ts';
import type { Config } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { accessJobs, maintenanceJobs } from '../scheduler/jobs.ts';
import { ExpiryTimer } from '../scheduler/expiry-timer.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import type { Notification } from '../access/notifications.ts';
import { OutboxPump } from '../outbox/outbox-pump.ts';
import { AuditFeed } from '../slack/outbound/audit-feed.ts';
import { slackNotifications } from '../slack/outbound/notifications.ts';

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
  stop(): Promise<void>;
}

/**
 * Starts the background work: the sweeps catch up on whatever fell due while no process
 * ran, then keep time; with Slack, the notifier delivers the outbox and the feed posts the
 * chain to the audit channel. All of it is driven from committed state, so it may run in
 * any thread or process, and in several at once.
 */
export async function startBackgroundWork(ctx: BackgroundContext): Promise<BackgroundWork> {
  const { config, policy, db, databaseUrl, access, log, client, checkpointer, cue } = ctx;
  const jobs = [...accessJobs(access, config), ...maintenanceJobs(db)];
  if (checkpointer) jobs.push({ name: 'checkpoint', pattern: '*/5 * * * * *', run: () => checkpointer.maybeCheckpoint() });
  const scheduler = new Scheduler(jobs, log.child({ component: 'sweeps' }));
  await scheduler.runAll();
  scheduler.start();
  const stops: (() => Promise<void>)[] = [() => scheduler.stop()];
  let notifier: OutboxPump<Notification> | null = null;
  let feed: AuditFeed | null = null;
  let timer: ExpiryTimer | null = null;
  try {
    if (config.expiryTimer) {
      const armed = new ExpiryTimer({ db, databaseUrl, endDue: () => access.endDueGrants(), log: log.child({ component: 'expiry-timer' }) });
      await armed.start();
      stops.push(() => armed.stop());
      timer = armed;
    }
    if (client) {
      const notifierLog = log.child({ component: 'notifier' });
      const slack = slackNotifications({ client, access, policy: () => policy, db, log: notifierLog, now: access.ctx.now });
      notifier = new OutboxPump(db, slack, { cue, log: notifierLog, now: access.ctx.now });
      notifier.start();
      const started = notifier;
      stops.push(() => started.stop());
      feed = new AuditFeed(db, client, cue, log.child({ component: 'audit-feed' }), { channel: () => policy.policy.auditChannel, now: access.ctx.now });
      await feed.start();
      const posting = feed;
      stops.push(() => posting.stop());
    }
  } catch (err) {
    for (const stop of stops.reverse()) await stop();
    throw err;
  }
  return {
    scheduler,
    timer,
    notifier,
    feed,
    async stop() {
      for (const stop of [...stops].reverse()) await stop().catch((err: unknown) => log.error({ err }, 'background shutdown step failed'));
    },
  };
}
