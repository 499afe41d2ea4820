import type { AuditLog } from '../audit/audit-log.ts';
import type { LoadedPolicy, ResourcePolicy } from '../config/policy.ts';
import { resourceById } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { SecretBox } from '../secrets/sealed.ts';
import type { Clock, ProvisionerFactory } from './ports.ts';

/** What the access rules need from the outside world. */
export interface AccessContext {
  db: Db;
  audit: AuditLog;
  /** The policy in force now (it may be reloaded). */
  policy: () => LoadedPolicy;
  provisionerFor: ProvisionerFactory;
  log: Logger;
  now: Clock;
  /** Seals credentials a provisioner made until the holder is sent them; null when GATEHOUSE_SECRETS_KEY is unset. */
  secrets?: SecretBox | null;
}

export function resourceOf(ctx: AccessContext, id: string): ResourcePolicy | undefined {
  return resourceById(ctx.policy().policy, id);
}

/** A resource's display name, or its id when the policy no longer lists it. */
export function resourceName(ctx: AccessContext, id: string): string {
  return resourceOf(ctx, id)?.name ?? id;
}
