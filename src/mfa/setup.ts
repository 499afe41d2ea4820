import type { LoadedPolicy } from '../config/policy.ts';
import { SECRETS_KEY_HINT } from '../secrets/sealed.ts';

/**
 * Start-up refuses a policy that uses MFA (require_mfa, approver_mfa, mfa_admins) without
 * GATEHOUSE_SECRETS_KEY: the authenticator secrets are kept encrypted with it, and a
 * resource that needs MFA would otherwise refuse everyone.
 */
export function checkMfaSetup(loaded: LoadedPolicy, secretsKey: string | undefined): void {
  if (secretsKey !== undefined && secretsKey.trim() !== '') return;
  const { policy, path } = loaded;
  const uses: string[] = [];
  policy.resources.forEach((resource, i) => {
    const fields = [resource.requireMfa ? 'require_mfa' : null, resource.approverMfa ? 'approver_mfa' : null].filter(
      (field) => field !== null,
    );
    if (fields.length > 0) uses.push(`resources[${i}] (${resource.id}) sets ${fields.join(' and ')}`);
  });
  if (policy.mfaAdmins.length > 0) uses.push('mfa_admins is set');
  if (uses.length === 0) return;
  throw new Error(
    `${path} uses MFA (${uses.join('; ')}), but GATEHOUSE_SECRETS_KEY is not set: MFA keeps each person's authenticator secret encrypted with it. ` +
      `To turn MFA on, ${SECRETS_KEY_HINT}, and keep it safe: without it nobody's codes can be checked. To run without MFA, remove those settings.`,
  );
}
