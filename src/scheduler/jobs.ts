import { sql } from 'kysely';
import type { AccessService } from '../access/service.ts';
import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { revokeUnratified } from '../access/break-glass-decisions.ts';
import { endGrantsPastContract } from '../access/contract-end-sweep.ts';
import { noticeContractEnds } from '../access/contracts.ts';
import { escalateWaiting } from '../access/escalation.ts';
import { endLostSessions } from '../access/gateway-reaper.ts';
import { reviewSweep } from '../access/reviews-sweep.ts';
import { alertOverdueGrants, noteUnusedAccess } from '../watch/sweeps.ts';
import { everySeconds, type Job } from './scheduler.ts';

/** The access sweeps, each on the configured interval (every second by default). */
export function accessJobs(access: AccessService, config: Config): Job[] {
  const pattern = everySeconds(config.sweepIntervalSeconds);
  const jobs: Job[] = [
    { name: 'end-due-grants', pattern, run: () => access.endDueGrants() },
    { name: 'expire-requests', pattern, run: () => access.expireStaleRequests() },
    { name: 'retry-grants', pattern, run: () => access.retryGrants() },
    { name: 'remind-owners', pattern, run: () => access.remindOwners() },
    { name: 'revoke-unratified-break-glass', pattern, run: () => revokeUnratified(access.ctx) },
    { name: 'end-grants-past-contract', pattern, run: () => endGrantsPastContract(access.ctx) },
    { name: 'escalate-requests', pattern, run: () => escalateWaiting(access.ctx) },
    // A lost replica's sessions are ended a minute and a half after it was last seen: 5 s more is nothing.
    { name: 'end-lost-gateway-sessions', pattern: '*/5 * * * * *', run: () => endLostSessions(access.ctx) },
    // A week's notice is not urgent: each hour is enough, and each notice goes out once.
    { name: 'notice-contract-ends', pattern: '0 41 * * * *', run: () => noticeContractEnds(access.ctx) },
    // Reviews fall due on a minute at the finest; removals show up when a policy is loaded.
    { name: 'access-reviews', pattern: '20 * * * * *', run: () => reviewSweep(access.ctx) },
    // Drift is rare and each check asks every target: once a minute is enough.
    { name: 'reconcile-grants', pattern: '30 * * * * *', run: () => access.reconcileGrants() },
  ];
  if (config.expiryWarningMs > 0)
    jobs.push({ name: 'warn-expiring', pattern, run: () => access.warnExpiring(config.expiryWarningMs) });
  return jobs;
}

/**
 * The alerts no event triggers (src/watch/sweeps.ts): a grant still live past its end, and
 * the weekly note on access never used. Each incident is recorded once, on any replica.
 */
export function watchJobs(access: AccessService): Job[] {
  const { db, audit, policy, now } = access.ctx;
  return [
    {
      name: 'alert-overdue-grants',
      pattern: '*/15 * * * * *',
      run: () => alertOverdueGrants(db, audit, policy().policy, now()),
    },
    {
      name: 'note-unused-access',
      pattern: '0 5 * * * *',
      run: () => noteUnusedAccess(db, audit, policy().policy, now()),
    },
  ];
}

/** Delivered notifications are kept a week for troubleshooting, then deleted. */
export function maintenanceJobs(db: Db): Job[] {
  return [
    {
      name: 'purge-delivered-outbox',
      pattern: '0 17 * * * *',
      run: async () => {
        const result = await db
          .deleteFrom('outbox')
          .where('done_at', '<', sql<Date>`now() - interval '7 days'`)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      },
    },
  ];
}
