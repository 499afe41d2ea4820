import { readFile } from 'node:fs/promises';
import type { Config } from '../config/env.ts';
import type { LoadedPolicy } from '../config/policy.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { Gateway } from '../gateway/server.ts';
import { gatewayConfigOf } from '../provisioners/postgres-gateway.ts';
import type { Logger } from '../log.ts';
import type { ShutdownStack } from './shutdown-stack.ts';

/** The resources whose holders reach them through the gateway. */
export function gatewayResources(policy: LoadedPolicy): string[] {
  return policy.policy.resources
    .filter((resource) => gatewayConfigOf(resource.provisioner) !== null)
    .map((resource) => resource.id);
}

/**
 * Starts the database gateway when the policy has a resource reached through it and
 * provisioning is real (the sandbox's dry run makes no logins to reach). Stopped before the
 * database closes: its sessions are told why and their ends recorded.
 */
export async function startGateway(
  config: Config,
  policy: LoadedPolicy,
  database: DatabaseHandle,
  log: Logger,
  parts: ShutdownStack,
): Promise<Gateway | null> {
  const resources = gatewayResources(policy);
  if (resources.length === 0 || config.provisioning !== 'real') return null;
  if (!config.secretsKey) throw new Error('the database gateway needs GATEHOUSE_SECRETS_KEY');
  const { tlsCertFile, tlsKeyFile } = config.gateway;
  const tls = tlsCertFile && tlsKeyFile ? { cert: await readFile(tlsCertFile), key: await readFile(tlsKeyFile) } : null;
  if (!tls && config.gateway.plaintext === 'never')
    throw new Error(
      'GATEHOUSE_GATEWAY_PLAINTEXT is never but the gateway has no certificate: set GATEHOUSE_GATEWAY_TLS_CERT_FILE and GATEHOUSE_GATEWAY_TLS_KEY_FILE, or allow loopback',
    );
  if (!tls)
    log.warn(
      { resources },
      config.gateway.plaintext === 'always'
        ? 'The database gateway has no certificate and takes plain TCP from anywhere (GATEHOUSE_GATEWAY_PLAINTEXT=always): passwords are safe (SCRAM), statements and results are not.'
        : 'The database gateway has no certificate (GATEHOUSE_GATEWAY_TLS_CERT_FILE, GATEHOUSE_GATEWAY_TLS_KEY_FILE): it takes plain TCP from this machine only.',
    );
  const gateway = await Gateway.start({
    db: database.db,
    databaseUrl: database.url,
    policy: () => policy,
    env: process.env,
    secretsKey: config.secretsKey,
    host: config.gateway.host,
    port: config.gateway.port,
    tls,
    plaintext: config.gateway.plaintext,
    log,
  });
  parts.push(() => gateway.stop());
  return gateway;
}
