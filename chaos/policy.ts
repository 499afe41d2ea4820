/**
 * The chaos run's people and policy: contractors asking for short grants (1–2 minutes, so
 * they come due and end during the run) of databases provisioned as PostgreSQL logins on a
 * target database, and one resource that takes a TOTP code.
 */
import { OWNERS, contractorId } from '../bench/bench-gatehouse.ts';

export const AUDIT_CHANNEL = 'C0AUDIT01';
export const TARGET_ENV = 'CHAOS_TARGET_URL';
export const TARGET_DATABASE = 'chaos_target';
/** The role every grant's login joins on the target: what the access is. */
export const READERS_ROLE = 'chaos_readers';
export const RESOURCES = ['app-db', 'logs-db', 'reports-db'] as const;
export const MFA_RESOURCE = 'mfa-db';
/** Reached through the replicas' database gateways only: its holders get a gateway login. */
export const GATEWAY_RESOURCE = 'gw-db';

export interface ChaosPeople {
  owners: string[];
  contractors: string[];
  /** The first contractors, enrolled in MFA before the load starts. */
  mfaUsers: string[];
}

export function chaosPeople(contractors: number, mfaUsers: number): ChaosPeople {
  const all = Array.from({ length: contractors }, (_, i) => contractorId(i));
  return { owners: [...OWNERS], contractors: all, mfaUsers: all.slice(0, mfaUsers) };
}

const provisioner = `{ kind: postgres, connection_env: ${TARGET_ENV}, roles: [${READERS_ROLE}] }`;

export function chaosPolicy(people: ChaosPeople): string {
  const plain = RESOURCES.map(
    (id) => `
  - id: ${id}
    name: ${id} (chaos)
    owners: [owners]
    requesters: [contractors]
    default_duration: 1m
    max_duration: 3m
    provisioner: ${provisioner}`,
  ).join('');
  return `# The chaos suite's policy (chaos/policy.ts): short grants that come due during the run.
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 10m
groups:
  contractors: [${people.contractors.join(', ')}]
  mfa-users: [${people.mfaUsers.join(', ')}]
  owners: [${people.owners.join(', ')}]
# Owners here approve within a second of the card: every approval would be a rubber stamp.
alerts: { rubber_stamps: false }
resources:${plain}
  - id: ${MFA_RESOURCE}
    name: MFA database (chaos)
    owners: [owners]
    requesters: [mfa-users]
    default_duration: 1m
    max_duration: 3m
    require_mfa: true
    provisioner: ${provisioner}
  - id: ${GATEWAY_RESOURCE}
    name: Orders database through the gateway (chaos)
    owners: [owners]
    requesters: [contractors]
    default_duration: 1m
    max_duration: 3m
    provisioner: { kind: postgres, connection_env: ${TARGET_ENV}, roles: [${READERS_ROLE}], gateway: {} }
`;
}
