import type { LoadedPolicy, ProvisionerConfig } from '../config/policy.ts';
import { noneProvisioner } from './none.ts';
import type { Provisioner } from './provisioner.ts';
import { webhookProvisioner } from './webhook.ts';

export type { Provisioner, ProvisionerFactory } from './provisioner.ts';

/** A provisioner block that cannot work in this environment: names the resource and the field. */
export class ProvisionerSetupError extends Error {}

/** The provisioner for a resource's `provisioner` block, with its secrets from the environment. */
export function provisionerFor(config: ProvisionerConfig, env: NodeJS.ProcessEnv = process.env): Provisioner {
  switch (config.kind) {
    case 'none':
      return noneProvisioner;
    case 'webhook': {
      const secret = env[config.secretEnv];
      if (!secret) throw new ProvisionerSetupError(`${config.secretEnv} is not set`);
      return webhookProvisioner(config, secret);
    }
  }
}

/**
 * Builds every resource's provisioner once, at start-up, so a missing secret stops the
 * start with the resource and the field to fix instead of failing the first grant.
 */
export function checkProvisioners(policy: LoadedPolicy, env: NodeJS.ProcessEnv = process.env): void {
  const problems: string[] = [];
  policy.policy.resources.forEach((resource, i) => {
    try {
      provisionerFor(resource.provisioner, env);
    } catch (err) {
      if (!(err instanceof ProvisionerSetupError)) throw err;
      const field = resource.provisioner.kind === 'webhook' ? 'secret_env' : 'kind';
      problems.push(`${policy.path} resources[${i}].provisioner.${field} (resource ${resource.id}): ${err.message}: set it to the secret the receiver checks signatures with.`);
    }
  });
  if (problems.length > 0) throw new ProvisionerSetupError(`The policy's provisioners cannot run here:\n  ${problems.join('\n  ')}`);
}
