import { sql } from 'kysely';
import type { LoadedPolicy } from '../config/policy.ts';
import type { AuditLog } from './audit-log.ts';
import { applyReviewRemovals } from './review-changes.ts';

/**
 * Puts a policy on the record when it differs from the last one recorded: `policy.loaded`
 * with the SHA-256 of the file's bytes. The compare-and-set on policy_state and the event
 * commit together, so of several replicas starting with a new file exactly one records it,
 * with the access-review removals it carries out (`review.change_applied`, review-changes.ts).
 * Returns true when this call recorded it.
 */
export async function recordPolicy(audit: AuditLog, loaded: LoadedPolicy, actor = 'system'): Promise<boolean> {
  return audit.transact(async (trx) => {
    const changed = await sql<{ previous: string | null }>`
      insert into policy_state as s (id, sha256, path) values (true, ${loaded.sha256}, ${loaded.path})
      on conflict (id) do update set sha256 = excluded.sha256, path = excluded.path, loaded_at = now()
        where s.sha256 <> excluded.sha256
      returning (select sha256 from policy_state where id) as previous
    `.execute(trx);
    const row = changed.rows[0];
    if (!row) return false;
    await audit.append(trx, {
      actor,
      action: 'policy.loaded',
      subject: `policy:${loaded.sha256.slice(0, 16)}`,
      body: {
        sha256: loaded.sha256,
        previous_sha256: row.previous,
        file: loaded.path,
        resources: loaded.policy.resources.map((resource) => resource.id),
      },
    });
    // Removals decided in access reviews that this policy carries out go on the record with it.
    await applyReviewRemovals(trx, audit, loaded, new Date());
    return true;
  });
}
