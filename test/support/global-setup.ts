import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { EmbeddedCluster } from '../../src/db/embedded.ts';
import { silentLogger } from '../../src/log.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A connection string to a server where tests may create databases. */
    adminUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run: TEST_DATABASE_URL when given, otherwise an embedded
 * cluster in a temporary directory. Each test file makes its own database in it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('adminUrl', given);
    return async () => {};
  }
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-test-'));
  await fs.chmod(dataDir, 0o755);
  const cluster = await EmbeddedCluster.open({ dataDir, log: silentLogger() });
  project.provide('adminUrl', cluster.url('postgres'));
  return async () => {
    await cluster.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
}
