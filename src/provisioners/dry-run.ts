import type { Grant, Provisioner } from '../access/ports.ts';
import type { ProvisionerConfig } from '../config/policy.ts';
import { kindOf } from './index.ts';
import { noneKind, noneProvisioner } from './none.ts';

/**
 * What a provisioner would have done for `grant`, for the audit log: the kind and the
 * names it would have used (a role, a user group, a URL without credentials or query),
 * never a secret or a connection string. Each kind says (ProvisionerKind.wouldDo).
 */
export function wouldHaveDone(config: ProvisionerConfig, grant: Grant): Record<string, unknown> {
  return kindOf(config).wouldDo(config, grant);
}

/**
 * The sandbox's stand-in for a resource's provisioner (GATEHOUSE_SANDBOX_PROVISION unset):
 * it reaches no database, user group or webhook, needs none of their secrets, and says on
 * the record what the real one would have done, with `dry_run: true`. It makes no
 * credentials, so a `postgres` grant's message has no login in it. It cannot say what is
 * in place, so the reconcile sweep leaves the resource alone; a user group's membership
 * stays the person's (`shared`), as with the real one.
 */
export function dryRunProvisioner(config: ProvisionerConfig): Provisioner {
  if (config.kind === noneKind.kind) return noneProvisioner;
  const record = (grant: Grant) => ({ record: { dry_run: true, would: wouldHaveDone(config, grant) } });
  return {
    ...(kindOf(config).shared ? { shared: true } : {}),
    async grant(grant) {
      return record(grant);
    },
    async revoke(grant) {
      return record(grant);
    },
    async extend(grant) {
      return record(grant);
    },
  };
}
