import type { WebClient } from '@slack/web-api';
import type { z } from 'zod';
import type { Grant, Provisioner } from '../access/ports.ts';
import type { ProvisionerConfig } from '../config/policy.ts';
import type { Db } from '../db/database.ts';

/** What some provisioners need besides their settings. */
export interface ProvisionerDeps {
  /** The bot's Web API client, for slack_usergroup; null when Slack is not configured. */
  slack?: WebClient | null;
  /** The Gatehouse database, whose advisory locks serialise changes to one user group. */
  db?: Db;
}

/**
 * A provisioner block that cannot work in this environment. `field` is the setting of the
 * block to look at and `fix` what to do; start-up names both with the resource.
 */
export class ProvisionerSetupError extends Error {
  constructor(
    message: string,
    readonly field = 'kind',
    readonly fix?: string,
  ) {
    super(message);
  }
}

/** Gatehouse's own database: a granted login that can reach it is named in the warnings. */
export interface OwnDatabase {
  /** The cluster's `pg_control_system().system_identifier`, the same on every connection to it. */
  systemIdentifier: string;
  name: string;
}

/** What a start-up check of one target found: problems stop the start, warnings are logged. */
export interface TargetCheck {
  problems: string[];
  warnings: string[];
}

/**
 * Everything Gatehouse knows of one provisioner kind. Each provisioners/<kind>.ts exports
 * one, and the registry (index.ts) lists them: the policy reads `provisioner:` blocks with
 * their schemas, start-up runs their checks, grants use their factories.
 */
export interface ProvisionerKind<C extends ProvisionerConfig = ProvisionerConfig> {
  /** The `kind:` that names it in the policy. */
  readonly kind: C['kind'];
  /** Its `provisioner:` block, `kind` included: what is allowed, and the config it becomes. */
  readonly schema: z.ZodType<C>;
  /**
   * The provisioner for one resource, with its secrets from `env`. Throws
   * ProvisionerSetupError when something it needs is missing.
   */
  create(config: C, env: NodeJS.ProcessEnv, deps: ProvisionerDeps): Provisioner;
  /**
   * Start-up, when provisioning for real: throws ProvisionerSetupError when it cannot run
   * here. Without it, start-up builds the provisioner to find out.
   */
  checkSetup?(config: C, env: NodeJS.ProcessEnv, setup: { slackConfigured: boolean }): void;
  /**
   * Start-up, when provisioning for real, after checkSetup: reaches the target and says what
   * is missing there. `via` names how it was reached (a variable); null when it was not.
   */
  checkTarget?(
    config: C,
    env: NodeJS.ProcessEnv,
    own: OwnDatabase | null,
  ): Promise<(TargetCheck & { via: string }) | null>;
  /** Why it needs GATEHOUSE_SECRETS_KEY, when its grants make a secret for the holder. */
  readonly needsSecretsKey?: string;
  /** For the sandbox's dry run: what it would have done for `grant`, never a secret. */
  wouldDo(config: C, grant: Grant): Record<string, unknown>;
  /** Its access is the person's, not the grant's (Provisioner.shared); the dry run keeps that. */
  readonly shared?: boolean;
}
