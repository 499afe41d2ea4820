import fs from 'node:fs/promises';
import type { Config, SlackMode } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { Logger } from '../log.ts';
import { checkMfaSetup } from '../mfa/setup.ts';
import { checkProvisioners, loadPolicyFile } from '../provisioners/index.ts';

export const EXAMPLE_POLICY_FILE = 'gatehouse.example.yml';

/**
 * The policy, read first, so a bad file stops start-up before anything else is touched;
 * with the settings its resources and step-up MFA need.
 */
export async function readPolicy(config: Config, mode: SlackMode, log: Logger): Promise<LoadedPolicy> {
  const policy = await loadPolicyFile(await choosePolicyFile(config, log));
  log.info({ file: policy.path, sha256: policy.sha256, resources: policy.policy.resources.length }, 'policy loaded');
  // A dry run (the sandbox's default) reaches no target, so it needs none of their settings
  // and checks none of them: every check of a target belongs behind this test.
  if (config.provisioning === 'real')
    checkProvisioners(
      policy,
      { ...process.env, GATEHOUSE_SECRETS_KEY: config.secretsKey },
      { slackConfigured: mode.kind !== 'none' },
    );
  checkMfaSetup(policy, config.secretsKey);
  return policy;
}

/**
 * Outside production, a first `npm start` with no gatehouse.yml runs on the example policy
 * and says so; in production, or when GATEHOUSE_POLICY names a file, that file must exist.
 */
async function choosePolicyFile(config: Config, log: Logger): Promise<string> {
  if (config.policyFileExplicit || config.nodeEnv === 'production') return config.policyFile;
  try {
    await fs.access(config.policyFile);
    return config.policyFile;
  } catch {
    log.warn(
      `No ${config.policyFile} found: running on ${EXAMPLE_POLICY_FILE}, whose people and channels are made up. ` +
        `Copy it to ${config.policyFile} and put in your own Slack ids, or set GATEHOUSE_POLICY.`,
    );
    return EXAMPLE_POLICY_FILE;
  }
}
