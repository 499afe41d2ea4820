/**
 * The provisioner registry: every kind Gatehouse can provision, and what iterates over
 * them. Adding a kind is one file, provisioners/<kind>.ts exporting its ProvisionerKind
 * (kind.ts), and one line in PROVISIONER_KINDS: the policy reads its blocks, start-up checks
 * it, grants build it, the sandbox's dry run describes it.
 */
import type { Provisioner } from '../access/ports.ts';
import {
  loadPolicyFileWith,
  parsePolicyWith,
  type LoadedPolicy,
  type Policy,
  type ProvisionerConfig,
} from '../config/policy.ts';
import type { Logger } from '../log.ts';
import { SECRETS_KEY_HINT } from '../secrets/sealed.ts';
import { ProvisionerSetupError, type OwnDatabase, type ProvisionerDeps, type ProvisionerKind } from './kind.ts';
import { noneKind } from './none.ts';
import { postgresKind } from './postgres.ts';
import { usergroupKind } from './slack-usergroup.ts';
import { webhookKind } from './webhook.ts';

export { ProvisionerSetupError, type ProvisionerDeps } from './kind.ts';

/** In the order the policy's messages list them ("allowed kinds are none, webhook, …"). */
export const PROVISIONER_KINDS: readonly ProvisionerKind[] = [noneKind, webhookKind, postgresKind, usergroupKind];

/** The kind of a `provisioner` block the policy read. */
export function kindOf(config: ProvisionerConfig): ProvisionerKind {
  const kind = PROVISIONER_KINDS.find((candidate) => candidate.kind === config.kind);
  if (!kind)
    throw new Error(`no provisioner of kind ${config.kind}: the policy was read with other kinds than the registry's`);
  return kind;
}

/** Parses and validates policy text with the registry's kinds (config/policy.ts). Throws PolicyError. */
export function parsePolicy(text: string, file: string): Policy {
  return parsePolicyWith(text, file, PROVISIONER_KINDS);
}

/** Reads, hashes and validates the policy file with the registry's kinds. Throws PolicyError. */
export function loadPolicyFile(file: string): Promise<LoadedPolicy> {
  return loadPolicyFileWith(file, PROVISIONER_KINDS);
}

/** The provisioner for a resource's `provisioner` block, with its secrets from the environment. */
export function provisionerFor(
  config: ProvisionerConfig,
  env: NodeJS.ProcessEnv = process.env,
  deps: ProvisionerDeps = {},
): Provisioner {
  return kindOf(config).create(config, env, deps);
}

/**
 * Checks every resource's provisioner once, at start-up, so a missing secret stops the
 * start with the resource and the field to fix instead of failing the first grant.
 */
export function checkProvisioners(
  policy: LoadedPolicy,
  env: NodeJS.ProcessEnv = process.env,
  options: { slackConfigured?: boolean } = {},
): void {
  const problems: string[] = [];
  const { resources } = policy.policy;
  resources.forEach((resource, i) => {
    const config = resource.provisioner;
    const kind = kindOf(config);
    try {
      if (kind.checkSetup) kind.checkSetup(config, env, { slackConfigured: options.slackConfigured ?? false });
      else kind.create(config, env, {});
    } catch (err) {
      if (!(err instanceof ProvisionerSetupError)) throw err;
      problems.push(
        `${policy.path} resources[${i}].provisioner.${err.field} (resource ${resource.id}): ${err.message}${err.fix ? `: ${err.fix}` : ''}.`,
      );
    }
  });
  if (!env.GATEHOUSE_SECRETS_KEY) {
    for (const kind of PROVISIONER_KINDS) {
      if (kind.needsSecretsKey && resources.some((r) => r.provisioner.kind === kind.kind)) {
        problems.push(`GATEHOUSE_SECRETS_KEY is not set: ${kind.needsSecretsKey}; ${SECRETS_KEY_HINT}.`);
      }
    }
  }
  if (problems.length > 0)
    throw new ProvisionerSetupError(`The policy's provisioners cannot run here:\n  ${problems.join('\n  ')}`);
}

/**
 * Reaches each resource's target, for the kinds that can check one (postgres: see
 * checkPostgresTarget): what is missing stops the start, naming the resource and what to
 * run; where a grant could give more than it should, a warning is logged. Only for real
 * provisioning.
 */
export async function checkProvisionerTargets(
  policy: LoadedPolicy,
  log: Logger,
  own: OwnDatabase | null,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const problems: string[] = [];
  const failing = new Set<string>();
  for (const [i, resource] of policy.policy.resources.entries()) {
    const config = resource.provisioner;
    const kind = kindOf(config);
    const check = await kind.checkTarget?.(config, env, own);
    if (!check) continue;
    for (const problem of check.problems) {
      problems.push(`${policy.path} resources[${i}] (resource ${resource.id}, ${check.via}): ${problem}`);
      failing.add(kind.kind);
    }
    for (const warning of check.warnings)
      log.warn({ resource: resource.id }, `${kind.kind} resource ${resource.id}: ${warning}`);
  }
  if (problems.length > 0)
    throw new ProvisionerSetupError(
      `The policy's ${[...failing].join(' and ')} targets are not ready for Gatehouse:\n  ${problems.join('\n  ')}`,
    );
}
