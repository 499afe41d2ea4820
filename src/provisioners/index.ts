import type { Provisioner } from '../access/ports.ts';
import type { LoadedPolicy, ProvisionerConfig } from '../config/policy.ts';
import { SECRETS_KEY_HINT } from '../secrets/sealed.ts';
import { noneProvisioner } from './none.ts';
import type { WebClient } from '@slack/web-api';
import type { Db } from '../db/database.ts';
import { postgresProvisioner } from './postgres.ts';
import { checkPostgresTarget, type OwnDatabase } from './postgres-checks.ts';
import type { Logger } from '../log.ts';
import { usergroupProvisioner } from './slack-usergroup.ts';
import { webhookProvisioner } from './webhook.ts';

/** A provisioner block that cannot work in this environment: names the resource and the field. */
export class ProvisionerSetupError extends Error {}

/** What some provisioners need besides their settings. */
export interface ProvisionerDeps {
  /** The bot's Web API client, for slack_usergroup; null when Slack is not configured. */
  slack?: WebClient | null;
  /** The Gatehouse database, whose advisory locks serialise changes to one user group. */
  db?: Db;
}

/** The provisioner for a resource's `provisioner` block, with its secrets from the environment. */
export function provisionerFor(config: ProvisionerConfig, env: NodeJS.ProcessEnv = process.env, deps: ProvisionerDeps = {}): Provisioner {
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
    case 'slack_usergroup': {
      if (!deps.slack || !deps.db) throw new ProvisionerSetupError('Slack is not configured (SLACK_BOT_TOKEN)');
      return usergroupProvisioner(config, deps.slack, deps.db);
    }
  }
}

/**
 * Builds every resource's provisioner once, at start-up, so a missing secret stops the
 * start with the resource and the field to fix instead of failing the first grant.
 */
export function checkProvisioners(policy: LoadedPolicy, env: NodeJS.ProcessEnv = process.env, options: { slackConfigured?: boolean } = {}): void {
  const problems: string[] = [];
  policy.policy.resources.forEach((resource, i) => {
    if (resource.provisioner.kind === 'slack_usergroup') {
      if (!options.slackConfigured) {
        problems.push(`${policy.path} resources[${i}].provisioner.kind (resource ${resource.id}): slack_usergroup changes a user group through the Slack app, which is not configured: set SLACK_BOT_TOKEN, or use another kind.`);
      }
      return;
    }
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

/**
 * Connects to each `postgres` resource's target as its admin and checks that every step of
 * a grant and a revoke will work there (see checkPostgresTarget): what is missing stops
 * the start, naming the resource and the GRANT to run; where a granted login could reach
 * more than its database, a warning is logged. Only for real provisioning.
 */
export async function checkProvisionerTargets(policy: LoadedPolicy, log: Logger, own: OwnDatabase | null, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const problems: string[] = [];
  for (const [i, resource] of policy.policy.resources.entries()) {
    const settings = resource.provisioner;
    if (settings.kind !== 'postgres') continue;
    const url = env[settings.connectionEnv];
    if (!url) continue; // checkProvisioners has said so
    const check = await checkPostgresTarget(url, settings.roles, own);
    for (const problem of check.problems) problems.push(`${policy.path} resources[${i}] (resource ${resource.id}, ${settings.connectionEnv}): ${problem}`);
    for (const warning of check.warnings) log.warn({ resource: resource.id }, `postgres resource ${resource.id}: ${warning}`);
  }
  if (problems.length > 0) throw new ProvisionerSetupError(`The policy's postgres targets are not ready for Gatehouse:\n  ${problems.join('\n  ')}`);
}
