import type { LoadedPolicy, ProvisionerConfig } from '../config/policy.ts';
import { SECRETS_KEY_HINT } from '../secrets/sealed.ts';
import { noneProvisioner } from './none.ts';
import type { Provisioner } from './provisioner.ts';
import { postgresProvisioner } from './postgres.ts';
import { webhookProvisioner } from './webhook.ts';

export type { GrantOutcome, Provisioner, ProvisionerFactory } from './provisioner.ts';

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
    case 'postgres': {
      const url = env[config.connectionEnv];
      if (!url) throw new ProvisionerSetupError(`${config.connectionEnv} is not set`);
      return postgresProvisioner(config, url);
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
      const { kind } = resource.provisioner;
      const field = kind === 'webhook' ? 'secret_env' : kind === 'postgres' ? 'connection_env' : 'kind';
      const fix = kind === 'postgres' ? 'set it to a connection string for the target database, as a role that may create roles' : 'set it to the secret the receiver checks signatures with';
      problems.push(`${policy.path} resources[${i}].provisioner.${field} (resource ${resource.id}): ${err.message}: ${fix}.`);
    }
  });
  if (policy.policy.resources.some((r) => r.provisioner.kind === 'postgres') && !env.GATEHOUSE_SECRETS_KEY) {
    problems.push(`GATEHOUSE_SECRETS_KEY is not set: postgres grants send the holder a password, which waits sealed with this key until it is sent; ${SECRETS_KEY_HINT}.`);
  }
  if (problems.length > 0) throw new ProvisionerSetupError(`The policy's provisioners cannot run here:\n  ${problems.join('\n  ')}`);
}
