import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAppliedChanges } from '../src/access/reviews-decide.ts';
import { reviewReports } from '../src/access/reviews-report.ts';
import { openDueReviews, remindReviewers } from '../src/access/reviews.ts';
import { formatReports } from '../src/cli/review.ts';
import { PolicyError } from '../src/config/policy.ts';
import { latestDue, parseSchedule } from '../src/config/review-schedule.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { FakeSlack, type SlackMessage } from '../src/sandbox/fake-slack/fake-slack.ts';
import { ACTION } from '../src/slack/blocks/ids.ts';
import { REVIEW_PAGE_SIZE, reviewMessage } from '../src/slack/blocks/review.ts';
import { PEOPLE } from './support/access.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { childEnv, runNode } from './support/process.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, answersTo, approveFromCard, buttonsIn, fileRequest } from './support/slack-stories.ts';

// Dana and Emil own prod-db; the contractors (Ana, Bram) and Fatima, by name, may request it.
const { ana, bram, dana, emil, fatima, mallory } = PEOPLE;

const policyText = (contractors: string[], requesters: string) => `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 1h
groups:
  contractors: [${contractors.join(', ')}]
  db-owners: [${dana}, ${emil}]
alerts: { rubber_stamps: false }
reviews: { every: quarterly, period: 180d, reminder_after: 3d }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: ${requesters}
    default_duration: 1h
    max_duration: 4h
    provisioner: { kind: none }
  - id: staging-db
    name: Staging database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 30m
    max_duration: 2h
    reviews: false
    provisioner: { kind: none }
`;
const POLICY = policyText([ana, bram], `[contractors, ${fatima}]`);

/** The first quarter start after now, and an hour past it: the test's clock for "the review is due". */
const nextQuarter = (() => {
  const now = new Date();
  const month = Math.floor(now.getUTCMonth() / 3) * 3 + 3;
  return new Date(Date.UTC(now.getUTCFullYear(), month, 1));
})();
const HOUR = 3_600_000;

describe('the reviews setting', () => {
  it('names the path and the fix', () => {
    const bad = (text: string) => {
      try {
        parsePolicy(text, 'gatehouse.yml');
      } catch (error) {
        return (error as PolicyError).problems.map((p) => `${p.path}: ${p.message}`);
      }
      throw new Error('accepted');
    };
    expect(bad(POLICY.replace('every: quarterly', 'every: yearly'))).toEqual([
      expect.stringMatching(/^reviews\.every: "yearly" is not a schedule: use quarterly, monthly, weekly or a cron/),
    ]);
    expect(
      bad(
        POLICY.replace('reviews: { every: quarterly, period: 180d, reminder_after: 3d }\n', '').replace(
          'reviews: false',
          'reviews: { period: 30d }',
        ),
      ),
    ).toEqual([
      expect.stringMatching(/^resources\[1\]\.reviews\.every: is required: there is no top-level reviews\.every/),
    ]);
    expect(bad(POLICY.replace('period: 180d', 'perod: 180d'))).toEqual([
      expect.stringMatching(/^reviews\.perod: unknown key "perod" \(did you mean period\?\)/),
    ]);
    expect(bad(POLICY.replace('every: quarterly', 'every: "0 9 32 * *"'))).toEqual([
      expect.stringMatching(/"32" is not a day of month field/),
    ]);
  });

  it('falls due at the latest scheduled time', () => {
    const at = new Date('2027-05-17T10:00:00Z');
    expect(latestDue(parseSchedule('quarterly'), at)?.toISOString()).toBe('2027-04-01T00:00:00.000Z');
    expect(latestDue(parseSchedule('monthly'), at)?.toISOString()).toBe('2027-05-01T00:00:00.000Z');
    expect(latestDue(parseSchedule('0 9 * * 1-5'), at)?.toISOString()).toBe('2027-05-17T09:00:00.000Z');
  });
});

describe('access reviews in Slack', () => {
  let bot: RunningBot;
  let reviewId: string;
  const at = (date: Date) => ({ ...bot.gatehouse.access.ctx, now: () => date });
  const copyFor = (owner: string): SlackMessage =>
    bot.fake.dmsTo(owner).find((m) => JSON.stringify(m.blocks).includes(reviewId))!;

  async function click(userId: string, actionId: string, person: string, copy: SlackMessage): Promise<string> {
    const reply = await bot.slack.clickButton({
      userId,
      actionId,
      value: `${reviewId}:${person}`,
      message: { channel: copy.channel, ts: copy.ts },
      stale: true,
    });
    return String((await bot.fake.waitForResponse(answersTo(reply.responseUrl))).body.text);
  }

  let fake: FakeSlack;
  let t: TestDatabase;

  beforeAll(async () => {
    // Owned here, so the app can be restarted on them with an edited policy.
    fake = await FakeSlack.start();
    t = await createTestDatabase({ migrate: false });
    bot = await startBot({ policy: POLICY, fake, t });
    const requestId = await fileRequest(bot, ana, 'prod-db 1h checking the invoices job');
    await approveFromCard(bot, dana, requestId);
    await bot.fake.waitForCall(
      'chat.postMessage',
      (c) => c.args.channel === `D${ana}` && /yours|active|granted/i.test(String(c.args.text)),
    );
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.stop();
    await t?.destroy();
  });

  it('opens once on the schedule, across replicas, and each owner gets a Keep and Remove per person', async () => {
    const clock = at(new Date(nextQuarter.getTime() + HOUR));
    const opened = (await Promise.all([openDueReviews(clock), openDueReviews(clock), openDueReviews(clock)])).flat();
    expect(opened).toHaveLength(1);
    reviewId = opened[0]!;
    expect(await openDueReviews(clock)).toEqual([]);
    const reviews = await bot.t.db.selectFrom('access_reviews').selectAll().where('id', '=', reviewId).execute();
    expect(reviews).toMatchObject([{ resource_id: 'prod-db', due_at: nextQuarter, status: 'open' }]);

    for (const owner of [dana, emil])
      await bot.fake.waitForCall(
        'chat.postMessage',
        (c) => c.args.channel === `D${owner}` && JSON.stringify(c.args.blocks).includes(reviewId),
      );
    const copy = copyFor(dana);
    const shown = JSON.stringify(copy.blocks);
    expect(copy.text).toBe('Access review of Production database: who should keep being able to request it?');
    expect(shown).toMatch(new RegExp(`<@${ana}> \\(via contractors\\): 1 grant, 1h in all, last`));
    expect(shown).toContain(`<@${bram}> (via contractors): No grants in the period.`);
    expect(shown).toContain(`<@${fatima}>: No grants in the period.`);
    expect(buttonsIn(copy.blocks).map((b) => `${b.text} ${b.value}`)).toEqual(
      [ana, bram, fatima]
        .flatMap((p) => [`Keep ${reviewId}:${p}`, `Remove ${reviewId}:${p}`])
        .sort((a, b) => a.split(':')[1]!.localeCompare(b.split(':')[1]!)),
    );
    // Owners who have not answered after reminder_after (3d) are reminded once. (The app's own
    // sweep, on the wall clock, may open this quarter's review meanwhile: only this one is looked at.)
    const remindedAt = async () =>
      (
        await bot.t.db
          .selectFrom('access_reviews')
          .select('reminded_at')
          .where('id', '=', reviewId)
          .executeTakeFirstOrThrow()
      ).reminded_at;
    await remindReviewers(at(new Date(nextQuarter.getTime() + 2 * 24 * HOUR)));
    expect(await remindedAt()).toBeNull();
    const later = new Date(nextQuarter.getTime() + HOUR + 3 * 24 * HOUR + 1);
    await Promise.all([remindReviewers(at(later)), remindReviewers(at(later))]);
    expect(await remindedAt()).toEqual(later);
    const reminder = 'Reminder: 3 people still to decide in the access review of Production database.';
    for (const owner of [dana, emil])
      await bot.fake.waitForCall('chat.postMessage', (c) => c.args.channel === `D${owner}` && c.args.text === reminder);
    expect(
      (
        await bot.t.db.selectFrom('outbox').select('payload').where('kind', '=', 'notify_review_reminder').execute()
      ).filter((o) => (o.payload as { reviewId?: string }).reviewId === reviewId),
    ).toHaveLength(1);
    // staging-db has `reviews: false`.
    expect(
      await bot.t.db
        .selectFrom('access_reviews')
        .select('resource_id')
        .where('resource_id', '=', 'staging-db')
        .execute(),
    ).toEqual([]);
  });

  it('records each decision once, tells a second click who decided, and refuses a stranger', async () => {
    expect(await click(emil, ACTION.reviewRemove, ana, copyFor(emil))).toMatch(
      /^✅ Recorded: <@U0ANA0001> should be removed from Production database\./,
    );
    expect(await click(dana, ACTION.reviewKeep, ana, copyFor(dana))).toMatch(
      new RegExp(`^<@${ana}> was already decided: \\*Remove\\* by <@${emil}> .*Nothing changed\\.$`),
    );
    expect(await click(mallory, ACTION.reviewKeep, bram, copyFor(dana))).toBe(
      `Only the owners of Production database may decide its review: <@${dana}> and <@${emil}>. Your attempt is on the record.`,
    );
    expect(await click(dana, ACTION.reviewKeep, fatima, copyFor(dana))).toMatch(/^✅ Recorded: /);
    expect(await click(dana, ACTION.reviewRemove, bram, copyFor(dana))).toMatch(/^✅ Recorded: /);

    // Every copy is updated to show every decision.
    for (const owner of [dana, emil])
      await bot.fake.waitForCall(
        'chat.update',
        (c) => c.args.ts === copyFor(owner).ts && JSON.stringify(c.args.blocks).includes(`complete: 3 decisions`),
      );
    expect(buttonsIn(copyFor(emil).blocks)).toEqual([]);
    expect(JSON.stringify(copyFor(emil).blocks)).toContain(`*Kept* by <@${dana}>`);

    await bot.gatehouse.audit.flush();
    const events = await bot.t.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'body'])
      .where('subject', '=', reviewId)
      .orderBy('seq')
      .execute();
    expect(events.map((e) => `${e.actor} ${e.action}`)).toEqual([
      'system review.opened',
      `${emil} review.decided`,
      `${mallory} review.decision_refused`,
      `${dana} review.decided`,
      `${dana} review.decided`,
      `${dana} review.completed`,
    ]);
    expect(events[1]!.body).toEqual({
      review: reviewId,
      resource: 'prod-db',
      person: ana,
      decision: 'remove',
      by: emil,
      via: ['contractors'],
    });
    expect(events[2]!.body).toMatchObject({ person: bram, reason: 'not-owner', owners: [dana, emil] });
    expect(events[5]!.body).toEqual({ resource: 'prod-db', kept: [fatima], removed: [ana, bram] });
  });

  it('exports the report with the seqs of its events and the policy change still to make', async () => {
    const [report] = await reviewReports(bot.t.db, bot.gatehouse.access.ctx.policy().policy, reviewId);
    const seqs = await bot.t.db
      .selectFrom('audit_log')
      .select(['seq', 'action', 'body'])
      .where('subject', '=', reviewId)
      .orderBy('seq')
      .execute();
    const seqFor = (action: string, person?: string) =>
      seqs.find((e) => e.action === action && (person === undefined || e.body['person'] === person))!.seq;
    expect(report).toMatchObject({
      review: reviewId,
      status: 'completed',
      opened_seq: seqFor('review.opened'),
      completed_seq: seqFor('review.completed'),
    });
    const ana_ = report!.people.find((p) => p.person === ana)!;
    expect(ana_).toMatchObject({
      decision: 'remove',
      decided_by: emil,
      decided_seq: seqFor('review.decided', ana),
      change_applied_at: null,
      grants: 1,
    });
    expect(ana_.policy_change).toBe(
      [
        `# prod-db: stop ${ana} requesting it`,
        `groups.contractors:  # also requesters of staging-db: or remove contractors from this resource's requesters`,
        `-  [${ana}, ${bram}]`,
        `+  [${bram}]`,
      ].join('\n'),
    );
    expect(report!.people.find((p) => p.person === fatima)).toMatchObject({
      decision: 'keep',
      decided_by: dana,
      policy_change: null,
    });
    const md = formatReports([report!], 'md');
    expect(md).toContain(`| ${ana} | 1 | remove | ${emil} |`);
    expect(md).toContain('```diff');
    expect(formatReports([report!], 'csv').split('\n')[0]).toMatch(/^review,resource,due_at,person/);

    // The same report from the command an auditor runs.
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-review-'));
    await writeFile(join(dir, 'gatehouse.yml'), POLICY);
    const env = childEnv({ DATABASE_URL: bot.t.url, GATEHOUSE_POLICY: join(dir, 'gatehouse.yml'), LOG_LEVEL: 'warn' });
    const exported = await runNode(
      ['bin/gatehouse.js', 'review', 'export', '--review', reviewId, '--format', 'md'],
      env,
    );
    expect(exported.code).toBe(0);
    expect(exported.stdout).toBe(md);
    const wrong = await runNode(['bin/gatehouse.js', 'review', 'export', '--format', 'xml'], env);
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, '--format xml is not known: use one of json, csv, md']);
    await rm(dir, { recursive: true, force: true });
  });

  it('records the change with the later policy that carries it, loaded at a restart', async () => {
    // The operator removes Ana from the contractors; Bram stays in the group for now.
    const text = policyText([bram], `[contractors, ${fatima}]`);
    const later = parsePolicy(text, 'gatehouse.yml');
    await bot.stop();
    bot = await startBot({ policy: text, fake, t });
    await bot.gatehouse.audit.flush();
    const loaded = await bot.t.db
      .selectFrom('audit_log')
      .select(['seq', 'body'])
      .where('action', '=', 'policy.loaded')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    const applied = await bot.t.db
      .selectFrom('audit_log')
      .select(['seq', 'body'])
      .where('subject', '=', reviewId)
      .where('action', '=', 'review.change_applied')
      .execute();
    expect(applied.map((e) => e.body)).toEqual([
      {
        review: reviewId,
        resource: 'prod-db',
        person: ana,
        policy_sha256: loaded.body['sha256'],
        resource_in_policy: true,
      },
    ]);
    // The sweep finds nothing left to record.
    expect(await recordAppliedChanges(bot.gatehouse.access.ctx)).toBe(0);
    const [report] = await reviewReports(bot.t.db, later, reviewId);
    expect(report!.people.find((p) => p.person === ana)).toMatchObject({
      change_applied_seq: applied[0]!.seq,
      policy_change: null,
    });
    expect(report!.people.find((p) => p.person === bram)!.policy_change).toContain(`+  []`);
    await bot.fake.waitForCall(
      'chat.update',
      (c) =>
        c.args.ts === copyFor(dana).ts && JSON.stringify(c.args.blocks).includes('The policy no longer lists them'),
    );
  });

  it('splits a long list into messages under 50 blocks', () => {
    const people = Array.from({ length: 45 }, (_, i) => `U0P${String(i).padStart(6, '0')}`);
    const review = {
      id: 'rev_x',
      resource_id: 'prod-db',
      resourceName: 'Production database',
      due_at: nextQuarter,
      period_start: nextQuarter,
      period_end: nextQuarter,
      owners: [dana],
      status: 'open' as const,
      opened_at: nextQuarter,
      reminded_at: null,
      completed_at: null,
      items: people.map((userId) => ({
        userId: userId as typeof ana,
        via: [userId],
        grants: 0,
        totalMs: 0,
        lastGrantAt: null,
        decision: null,
        decidedBy: null,
        decidedAt: null,
        changeAppliedAt: null,
      })),
    };
    const pages = [0, 1, 2].map((page) => reviewMessage(review, page));
    expect(pages.map((p) => p.blocks.length)).toEqual([
      2 + 2 * REVIEW_PAGE_SIZE + 1,
      2 + 2 * REVIEW_PAGE_SIZE + 1,
      2 + 2 * 5 + 1,
    ]);
    expect(pages.every((p) => p.blocks.length <= 50)).toBe(true);
    expect(pages[2]!.text).toContain('(part 3 of 3)');
  });
});
