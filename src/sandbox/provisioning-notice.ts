import type { ProvisioningMode } from '../config/env.ts';
import type { Policy } from '../config/policy.ts';

/** What the sandbox says about its provisioning, on its page (a banner) and in its start-up log. */
export interface ProvisioningNotice {
  mode: ProvisioningMode;
  text: string;
}

/** The resources whose grants would reach something outside Gatehouse, as `id (kind)`. */
function provisioned(policy: Policy): string[] {
  return policy.resources.filter((r) => r.provisioner.kind !== 'none').map((r) => `${r.id} (${r.provisioner.kind})`);
}

export function provisioningNotice(policy: Policy, mode: ProvisioningMode): ProvisioningNotice {
  const resources = provisioned(policy);
  if (mode === 'real') {
    const which =
      resources.length > 0
        ? `Approved grants of ${resources.join(', ')} make real access in the systems the policy names`
        : 'Every resource here is kind: none, so grants are records only; another policy would provision for real';
    return {
      mode,
      text: `Provisioning is REAL (GATEHOUSE_SANDBOX_PROVISION=real). ${which}, and anyone who can open this page can approve as any owner.`,
    };
  }
  const which =
    resources.length > 0
      ? `Grants of ${resources.join(', ')} are recorded in the audit log with dry_run: true and what would have been done`
      : 'Every resource here is kind: none, so grants are records only anyway';
  return {
    mode,
    text: `Provisioning is a dry run: no database, user group or webhook is touched. ${which}. To provision for real, start the sandbox with GATEHOUSE_SANDBOX_PROVISION=real.`,
  };
}
