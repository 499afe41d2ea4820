import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.ts';
import { loadPolicyFile } from '../src/provisioners/index.ts';
import { recordPolicy } from '../src/audit/policy-record.ts';
import { silentLogger } from '../src/log.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

interface PolicyEventBody {
  sha256: string;
  previous_sha256: string | null;
  resources: string[];
}

async function policyEvents(t: TestDatabase): Promise<PolicyEventBody[]> {
  await t.audit.flush();
  const rows = await t.db
    .selectFrom('audit_log')
    .select('body')
    .where('action', '=', 'policy.loaded')
    .orderBy('seq')
    .execute();
  return rows.map((row) => row.body as unknown as PolicyEventBody);
}

describe('putting the policy on the record', () => {
  let t: TestDatabase;
  let dir: string;
  let file: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-policy-'));
    file = path.join(dir, 'gatehouse.yml');
    await fs.copyFile('gatehouse.example.yml', file);
  });
  afterAll(async () => {
    await t.destroy();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('records the first policy with the SHA-256 of its bytes', async () => {
    const loaded = await loadPolicyFile(file);
    expect(await recordPolicy(t.audit, loaded)).toBe(true);
    const sha = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
    expect(await policyEvents(t)).toEqual([expect.objectContaining({ sha256: sha, previous_sha256: null })]);
  });

  it('records nothing when the same policy loads again', async () => {
    expect(await recordPolicy(t.audit, await loadPolicyFile(file))).toBe(false);
    expect(await policyEvents(t)).toHaveLength(1);
  });

  it('records an edit, linked to the policy it replaces, once even when replicas start together', async () => {
    const before = await policyEvents(t);
    await fs.appendFile(file, '\n# on-call rota changed\n');
    const loaded = await loadPolicyFile(file);
    const replicas = [t.audit, new AuditLog(t.db, t.pool, silentLogger()), new AuditLog(t.db, t.pool, silentLogger())];
    const recorded = await Promise.all(replicas.map((audit) => recordPolicy(audit, loaded)));
    expect(recorded.filter(Boolean)).toHaveLength(1);
    const after = await policyEvents(t);
    expect(after).toHaveLength(2);
    expect(after[1]).toMatchObject({ sha256: loaded.sha256, previous_sha256: before[0]!.sha256 });
    expect(await t.audit.verify()).toMatchObject({ ok: true, checked: 2 });
  });
});
