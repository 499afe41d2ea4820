import type { ProvisionerConfig } from '../config/policy.ts';
import type { Grant } from '../access/types.ts';

/**
 * What a grant gives, in the system that holds the resource. Both calls must be idempotent:
 * the sweeps retry them after a failure or a crash, possibly after the work was done.
 */
export interface Provisioner {
  grant(grant: Grant): Promise<void>;
  revoke(grant: Grant): Promise<void>;
}

/** Picks the provisioner for a resource's `provisioner` block. */
export type ProvisionerFactory = (config: ProvisionerConfig) => Provisioner;
