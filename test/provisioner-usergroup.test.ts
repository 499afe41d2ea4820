import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../src/access/service.ts';
import { silentLogger } from '../src/log.ts';
import { checkProvisioners, provisionerFor } from '../src/provisioners/index.ts';
import { PEOPLE, loadedPolicy } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { FakeSlack } from '../src/sandbox/fake-slack/fake-slack.ts';

const { ana, bram, dana } = PEOPLE;
const GROUP = 'S0ONCALL01';
const KEEPER = 'U0KEEPER01';

const POLICY = `
audit_channel: C0AUDIT01
groups:
  contractors: [${ana}, ${bram}]
  owners: [${dana}]
resources:
  - id: oncall
    name: On-call user group
    owners: [owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    provisioner: { kind: slack_usergroup, usergroup: ${GROUP} }
`;

describe('the slack_usergroup provisioner', () => {
  let t: TestDatabase;
  let fake: FakeSlack;
  let service: AccessService;

  beforeAll(async () => {
    t = await createTestDatabase();
    fake = await FakeSlack.start();
    fake.setUsergroup(GROUP, [KEEPER]);
    const slack = new WebClient('xoxb-test-token', { slackApiUrl: fake.apiUrl });
    const policy = loadedPolicy(POLICY);
    service = new AccessService({
      db: t.db,
      audit: t.audit,
      policy: () => policy,
      provisionerFor: (c) => provisionerFor(c, {}, { slack, db: t.db }),
      log: silentLogger(),
      now: () => new Date(),
    });
  });
  afterAll(async () => {
    await fake.stop();
    await t.destroy();
  });

  async function granted(requester: string, reason: string, extendsGrantId?: string): Promise<string> {
    const filed = await service.request({
      requester,
      resourceId: 'oncall',
      reason,
      ...(extendsGrantId ? { extendsGrantId } : {}),
    });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    const decided = await service.approve(filed.request.id, dana);
    if (!decided.ok) throw new Error(JSON.stringify(decided.refusal));
    // An extension moves the grant it extends; anything else is a grant of its own.
    if (decided.grant) return decided.grant.id;
    return (
      await t.db.selectFrom('grants').select('id').where('request_id', '=', filed.request.id).executeTakeFirstOrThrow()
    ).id;
  }

  it('needs Slack to be configured, and says so at start-up', () => {
    expect(() => checkProvisioners(loadedPolicy(POLICY), {}, { slackConfigured: false })).toThrow(
      'resources[0].provisioner.kind (resource oncall): slack_usergroup changes a user group through the Slack app, which is not configured',
    );
    expect(() => checkProvisioners(loadedPolicy(POLICY), {}, { slackConfigured: true })).not.toThrow();
  });

  it('adds two people granted at the same moment without either dropping the other, and removes each at the end', async () => {
    const [forAna, forBram] = await Promise.all([granted(ana, 'incident 1'), granted(bram, 'incident 2')]);
    expect(fake.usergroupMembers(GROUP)?.sort()).toEqual([KEEPER, ana, bram].sort());
    await service.release(forAna, ana);
    expect(fake.usergroupMembers(GROUP)?.sort()).toEqual([KEEPER, bram].sort());
    await service.release(forBram, bram);
    expect(fake.usergroupMembers(GROUP)).toEqual([KEEPER]);
  });

  it('an extension keeps the membership: the same grant, its end moved, and the member removed once, at its end', async () => {
    const grant = await granted(ana, 'long migration');
    const before = await service.findGrant(grant);
    const extension = await granted(ana, 'the migration runs over', grant);
    // No second grant: the extension moved the first one's end, and the group was not touched.
    expect(extension).toBe(grant);
    const after = await service.findGrant(grant);
    expect(after?.endsAt.getTime()).toBe(before!.endsAt.getTime() + 3_600_000);
    expect(fake.usergroupMembers(GROUP)).toContain(ana);
    await service.release(grant, ana);
    expect(fake.usergroupMembers(GROUP)).toEqual([KEEPER]);
  });

  it('keeps the membership until the last of overlapping grants ends (two live grants, as extensions made before they moved the end)', async () => {
    const first = await granted(ana, 'long migration');
    // Before extensions moved a grant's end, an approved one was a second live grant of the resource.
    const filed = await service.request({
      requester: ana,
      resourceId: 'oncall',
      reason: 'runs over',
      extendsGrantId: first,
    });
    if (!filed.ok) throw new Error(JSON.stringify(filed.refusal));
    await t.db.updateTable('access_requests').set({ status: 'approved' }).where('id', '=', filed.request.id).execute();
    const row = await t.db.selectFrom('grants').selectAll().where('id', '=', first).executeTakeFirstOrThrow();
    const second = `${first}x`;
    await t.db
      .insertInto('grants')
      .values({
        ...row,
        id: second,
        request_id: filed.request.id,
        ends_at: new Date(row.ends_at.getTime() + 3_600_000),
      })
      .execute();
    await service.release(first, ana);
    expect(fake.usergroupMembers(GROUP)).toContain(ana);
    await t.audit.flush();
    const ended = await t.db
      .selectFrom('audit_log')
      .select('body')
      .where('action', '=', 'grant.revoked')
      .where('subject', '=', first)
      .executeTakeFirstOrThrow();
    expect(ended.body).toMatchObject({ access_kept_for: second });
    await service.release(second as typeof first, ana);
    expect(fake.usergroupMembers(GROUP)).toEqual([KEEPER]);
  });

  it('reconciles: takes back a membership re-added by hand after its grant ended, and leaves live grants and permanent members', async () => {
    const live = await granted(bram, 'on call tonight');
    // Ana held the group earlier in this file; someone adds her back by hand, and a new permanent member too.
    fake.setUsergroup(GROUP, [...(fake.usergroupMembers(GROUP) ?? []), ana, 'U0PERMANENT']);
    expect(await service.reconcileGrants()).toBe(1);
    expect(fake.usergroupMembers(GROUP)?.sort()).toEqual([KEEPER, 'U0PERMANENT', bram].sort());
    await t.audit.flush();
    const drift = await t.db
      .selectFrom('audit_log')
      .select(['subject', 'body'])
      .where('action', '=', 'grant.drift_revoked')
      .execute();
    expect(drift).toHaveLength(1);
    expect(drift[0]?.body).toMatchObject({ resource: 'oncall', user: ana, grant_status: 'ended' });
    // Nothing left to take: a second run changes nothing.
    expect(await service.reconcileGrants()).toBe(0);
    await service.release(live, bram);
    fake.setUsergroup(GROUP, [KEEPER]);
  });

  it('fails a revoke that would empty the group, saying why, and keeps it failing until fixed', async () => {
    fake.setUsergroup(GROUP, []);
    const grant = await granted(ana, 'alone in the group');
    expect(fake.usergroupMembers(GROUP)).toEqual([ana]);
    await service.release(grant, ana);
    const row = await t.db
      .selectFrom('grants')
      .select(['status', 'last_error'])
      .where('id', '=', grant)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      status: 'revoke_failed',
      last_error: expect.stringContaining('is the last member of user group S0ONCALL01'),
    });
    expect(fake.usergroupMembers(GROUP)).toEqual([ana]);
  });
});
