import { createHmac, randomBytes } from 'node:crypto';
import { createScramSha256Data } from 'pg-gateway';
import { GATEWAY_DEFAULT_LISTEN, splitAddress } from '../config/env.ts';
import type { ProvisionerConfig } from '../config/policy-schema.ts';
import type { Db } from '../db/database.ts';
import type { GrantId } from '../db/ids.ts';

/**
 * What the gateway refuses, by class, when a resource's `gateway.refuse` lists it. The
 * gateway (src/gateway/classify.ts) sorts each statement into these with PostgreSQL's own
 * parser.
 */
export const STATEMENT_CLASSES = ['ddl', 'dml', 'copy', 'copy_program', 'alter_system', 'set_role', 'do'] as const;
export type StatementClass = (typeof STATEMENT_CLASSES)[number];

/** How a statement's parameters are kept on the record. */
export const PARAMETER_RECORDING = ['record', 'hash', 'omit'] as const;
export type ParameterRecording = (typeof PARAMETER_RECORDING)[number];

/** A postgres resource's `gateway:` block: its holders reach it through Gatehouse's gateway only. */
export interface GatewayLimits {
  /** Sessions are read-only: writes are refused by the database, and ways to undo that by the gateway. */
  readOnly: boolean;
  refuse: StatementClass[];
  parameters: ParameterRecording;
}

/** Where contractors reach the gateway, from the environment (README, "The database gateway"). */
export interface GatewayAddress {
  host: string;
  port: string;
  /** With a certificate, GATEHOUSE_GATEWAY_SSLMODE (`require` by default); else `disable`. */
  sslmode: string;
}

/** The address the gateway's holders are sent: GATEHOUSE_GATEWAY_PUBLIC_ADDRESS, else where it listens. */
export function gatewayAddressOf(env: NodeJS.ProcessEnv): GatewayAddress {
  const { host, port } = splitAddress(
    env.GATEHOUSE_GATEWAY_PUBLIC_ADDRESS || env.GATEHOUSE_GATEWAY_LISTEN || GATEWAY_DEFAULT_LISTEN,
  );
  return {
    host,
    port: String(port),
    sslmode: env.GATEHOUSE_GATEWAY_TLS_CERT_FILE ? env.GATEHOUSE_GATEWAY_SSLMODE || 'require' : 'disable',
  };
}

/** The gateway login of one grant: its id, lower-case (`grt_…`). */
export function gatewayUserFor(grantId: string): string {
  return grantId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * The password of a grant's login role in the target, when it is reached through the
 * gateway: derived from GATEHOUSE_SECRETS_KEY, so every replica's gateway can log in with
 * it and nothing stores it; the holder never sees it.
 */
export function upstreamPasswordFor(secretsKey: string, role: string): string {
  return createHmac('sha256', secretsKey).update(`gatehouse gateway upstream\0${role}`).digest('base64url');
}

/**
 * Makes the holder's gateway password and keeps only its SCRAM-SHA-256 verifier, as
 * PostgreSQL keeps its own. Idempotent: a retried grant gets a new password, and the
 * holder is sent the one that works.
 */
export async function issueGatewayLogin(db: Db, grantId: GrantId): Promise<{ user: string; password: string }> {
  const user = gatewayUserFor(grantId);
  const password = randomBytes(24).toString('base64url');
  const verifier = await createScramSha256Data(password);
  const row = {
    grant_id: grantId,
    username: user,
    salt: verifier.salt,
    iterations: verifier.iterations,
    stored_key: verifier.storedKey,
    server_key: verifier.serverKey,
  };
  await db
    .insertInto('gateway_logins')
    .values(row)
    .onConflict((oc) => oc.column('grant_id').doUpdateSet({ ...row, created_at: new Date() }))
    .execute();
  return { user, password };
}

/** A resource's provisioner block when it is reached through the gateway: where its database is, and its limits. */
export function gatewayConfigOf(config: ProvisionerConfig): { connectionEnv: string; gateway: GatewayLimits } | null {
  if (config.kind !== 'postgres') return null;
  const postgres = config as ProvisionerConfig & { connectionEnv: string; gateway?: GatewayLimits };
  return postgres.gateway ? { connectionEnv: postgres.connectionEnv, gateway: postgres.gateway } : null;
}
