/**
 * What the access rules need from the outside world and do not make themselves: a
 * provisioner for each resource and a clock. Adapters implement these (provisioners/
 * imports this file and nothing else of access/); the rules never import an adapter.
 */
import type { ProvisionerConfig } from '../config/policy.ts';
import type { Grant } from './types.ts';

/** What a provisioner is given: the grant, as the access rules see it. */
export type { Grant };

/** The time now; injected, so tests and sweeps agree on it. */
export type Clock = () => Date;

/**
 * What a grant gives, in the system that holds the resource. Both calls must be idempotent:
 * the sweeps retry them after a failure or a crash, possibly after the work was done.
 */
export interface Provisioner {
  grant(grant: Grant): Promise<GrantOutcome | void>;
  revoke(grant: Grant): Promise<RevokeOutcome | void>;
  /**
   * An approved extension moved `grant.endsAt`: the target is told, in place (a login's
   * `VALID UNTIL` moves; its password, its sessions and a group's membership stay).
   * Idempotent, like the others, and absent where nothing in the target knows the end.
   */
  extend?(grant: Grant): Promise<ExtendOutcome | void>;
  /**
   * True when the access is the person's, not the grant's (a group membership): while
   * another grant of the same resource to the same person is live, ending one must not
   * take the access away.
   */
  readonly shared?: boolean;
  /**
   * The ids of the grants whose access is in place in the target now, for the reconcile
   * sweep; absent when the target cannot say (a webhook).
   */
  inPlace?(): Promise<string[]>;
  /**
   * For shared access (a group): the people who have it in the target now. The reconcile
   * sweep takes it from those who held a grant of the resource and hold none now (re-added
   * by hand); people Gatehouse never granted it to are left alone.
   */
  holders?(): Promise<string[]>;
}

/** What a grant made that the holder or the record must know. */
export interface GrantOutcome {
  /** Sent to the holder by direct message only: sealed in the database until then, never logged or audited. */
  secret?: Record<string, string>;
  /** Safe to keep: added to the `grant.active` audit event (a role name, a fingerprint). */
  record?: Record<string, unknown>;
}

/** What taking access away did, for the record. */
export interface RevokeOutcome {
  /** Safe to keep: added to the `grant.revoked` audit event. */
  record?: Record<string, unknown>;
}

/** What moving a grant's end in the target did, for the record. */
export interface ExtendOutcome {
  /** Safe to keep: added to the `grant.extended` audit event. */
  record?: Record<string, unknown>;
}

/** Picks the provisioner for a resource's `provisioner` block. */
export type ProvisionerFactory = (config: ProvisionerConfig) => Provisioner;
