import { createHash } from 'node:crypto';
import { asSlackUserId } from '../../src/access/ids.ts';
import { AccessService } from '../../src/access/service.ts';
import type { Grant } from '../../src/access/types.ts';
import type { LoadedPolicy } from '../../src/config/policy.ts';
import { parsePolicy } from '../../src/provisioners/index.ts';
import { silentLogger } from '../../src/log.ts';
import type { Provisioner } from '../../src/access/ports.ts';
import type { SecretBox } from '../../src/secrets/sealed.ts';
import type { TestDatabase } from './db.ts';

/** People in the test policy. */
export const PEOPLE = {
  ana: asSlackUserId('U0ANA0001'), // contractor
  bram: asSlackUserId('U0BRAM001'), // contractor
  dana: asSlackUserId('U0DANA001'), // db owner
  emil: asSlackUserId('U0EMIL001'), // db owner
  fatima: asSlackUserId('U0FATIMA1'), // auditor
  mallory: asSlackUserId('U0MALLORY'), // nobody
};

export const TEST_POLICY = `
audit_channel: C0AUDIT01
request_ttl: 1h
remind_after: 10m
groups:
  contractors: [${PEOPLE.ana}, ${PEOPLE.bram}]
  db-owners: [${PEOPLE.dana}, ${PEOPLE.emil}]
  auditors: [${PEOPLE.fatima}]
# Tests approve within milliseconds of asking: every approval would be a rubber stamp, and
# its alert messages ones the tests of other things do not count. Alerts have tests of their own.
alerts: { rubber_stamps: false }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    approvals_required: 2
    provisioner: { kind: none }
  - id: staging-db
    name: Staging database
    owners: [db-owners, ${PEOPLE.ana}]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 2h
    provisioner: { kind: none }
`;

/** TEST_POLICY with more of an alerts section (its lines, indented two spaces, under `alerts:`). */
export function testPolicyWithAlerts(section: string): string {
  const line = 'alerts: { rubber_stamps: false }\n';
  if (!TEST_POLICY.includes(line)) throw new Error('TEST_POLICY has no alerts line to extend');
  return TEST_POLICY.replace(line, `alerts:\n  rubber_stamps: false\n${section.replace(/\n?$/, '\n')}`);
}

export function loadedPolicy(text = TEST_POLICY): LoadedPolicy {
  return {
    policy: parsePolicy(text, 'test-policy.yml'),
    path: 'test-policy.yml',
    sha256: createHash('sha256').update(text).digest('hex'),
  };
}

/** A provisioner that records calls and fails on demand. */
export class RecordingProvisioner implements Provisioner {
  granted: string[] = [];
  revoked: string[] = [];
  failGrants = 0;
  failRevokes = 0;

  async grant(grant: Grant): Promise<void> {
    if (this.failGrants > 0) {
      this.failGrants -= 1;
      throw new Error('target database unreachable');
    }
    this.granted.push(grant.id);
  }

  async revoke(grant: Grant): Promise<void> {
    if (this.failRevokes > 0) {
      this.failRevokes -= 1;
      throw new Error('target database unreachable');
    }
    this.revoked.push(grant.id);
  }

  /** Each extension applied: the grant and the end the target was told. */
  extended: { id: string; endsAt: string }[] = [];
  failExtends = 0;

  async extend(grant: Grant): Promise<void> {
    if (this.failExtends > 0) {
      this.failExtends -= 1;
      throw new Error('target database unreachable');
    }
    this.extended.push({ id: grant.id, endsAt: grant.endsAt.toISOString() });
  }
}

export interface TestAccess {
  service: AccessService;
  provisioner: RecordingProvisioner;
  clock: { now: Date; advance(ms: number): void };
}

/** The access rules on a test database, with a clock the test moves by hand. */
export function testAccess(
  t: TestDatabase,
  policyText = TEST_POLICY,
  options: { secrets?: SecretBox | null } = {},
): TestAccess {
  const provisioner = new RecordingProvisioner();
  const clock = {
    now: new Date(),
    advance(ms: number) {
      this.now = new Date(this.now.getTime() + ms);
    },
  };
  const policy = loadedPolicy(policyText);
  const service = new AccessService({
    db: t.db,
    audit: t.audit,
    policy: () => policy,
    provisionerFor: () => provisioner,
    log: silentLogger(),
    now: () => clock.now,
    secrets: options.secrets ?? null,
  });
  return { service, provisioner, clock };
}

/** One `postgres` resource, billing-db, whose grants join `role`, with its admin in BILLING_DB_ADMIN_URL. */
export function billingDbPolicy(role: string): string {
  return `
audit_channel: C0AUDIT01
groups:
  contractors: [${PEOPLE.ana}]
  owners: [${PEOPLE.dana}]
resources:
  - id: billing-db
    name: Billing database (read-only)
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 2h
    provisioner: { kind: postgres, connection_env: BILLING_DB_ADMIN_URL, roles: [${role}] }
`;
}
