import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyError } from '../src/config/policy.ts';
import { parsePolicy } from '../src/provisioners/index.ts';
import { PEOPLE } from './support/access.ts';
import { startBot, type RunningBot } from './support/gatehouse.ts';
import { AUDIT_CHANNEL, cardFor, cardPostedTo, fileRequest } from './support/slack-stories.ts';

// prod-db asks whoever of its owners is on call: the schedule file says who, and is re-read when it changes.
const { ana, bram, dana, emil, fatima } = PEOPLE;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const policyWith = (schedule: string, always = '') => `
audit_channel: ${AUDIT_CHANNEL}
request_ttl: 2h
groups:
  contractors: [${ana}, ${bram}]
  db-owners: [${dana}, ${emil}]
alerts: { rubber_stamps: false }
resources:
  - id: prod-db
    name: Production database
    owners: [db-owners]
    requesters: [contractors]
    default_duration: 1h
    max_duration: 4h
    on_call: { schedule: ${JSON.stringify(schedule)}${always} }
    provisioner: { kind: none }
`;

function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, 'gatehouse.yml');
  } catch (error) {
    if (error instanceof PolicyError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

let dir: string;
let schedule: string;
const writeShifts = (shifts: { user: string; from: number; to: number }[]) =>
  fs.writeFile(
    schedule,
    `# exported from the paging tool\nshifts:\n${shifts.map((s) => `  - { user: ${s.user}, from: ${iso(s.from)}, to: ${iso(s.to)} }`).join('\n')}\n`,
  );

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-oncall-'));
  schedule = path.join(dir, 'oncall.yml');
  const now = Date.now();
  await writeShifts([
    { user: dana, from: now - HOUR, to: now + 2 * HOUR },
    { user: emil, from: now + 2 * HOUR, to: now + 10 * HOUR },
  ]);
});
afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

describe('the on_call policy key', () => {
  it('reads the schedule at load and says what is wrong with it, with where', async () => {
    expect(problemsOf(policyWith(schedule))).toEqual([]);
    expect(problemsOf(policyWith(path.join(dir, 'missing.yml')))[0]).toMatch(
      /^resources\[0\]\.on_call\.schedule: the schedule file does not exist \(looked for .*missing\.yml\)/,
    );
    const bad = path.join(dir, 'bad.yml');
    await fs.writeFile(bad, `shifts:\n  - { user: ${dana}, from: 2026-12-04T08:00:00Z, to: 2026-12-04T07:00:00Z }\n`);
    expect(problemsOf(policyWith(bad))).toEqual([
      `resources[0].on_call.schedule: the schedule file is not valid: ${bad} shifts[0]: ends at or before it starts: "to" must be after "from"`,
    ]);
    await fs.writeFile(bad, `shifts:\n  - { user: dana, from: 2026-12-04T08:00:00Z, to: 2026-12-04T09:00:00Z }\n`);
    expect(problemsOf(policyWith(bad))[0]).toMatch(/shifts\[0\]\.user: "dana" is not a Slack user id/);
    await fs.writeFile(bad, `shifts:\n  - { user: ${dana}, from: 2026-12-04 08:00, to: 2026-12-04T09:00:00Z }\n`);
    expect(problemsOf(policyWith(bad))[0]).toMatch(
      /shifts\[0\]\.from: .* is not a UTC time: write it like 2026-12-04T08:00:00Z/,
    );
    expect(problemsOf(policyWith(schedule, `, always: [${fatima}]`))).toEqual([
      `resources[0].on_call.always[0]: ${fatima} is not an owner of this resource: only owners are asked to approve; add them to owners or remove them here`,
    ]);
  });
});

describe('asking whoever is on call', () => {
  let bot: RunningBot;
  beforeAll(async () => {
    bot = await startBot({ policy: policyWith(schedule) });
  });
  afterAll(async () => bot.stop());

  it('sends the card to the owner on call only, records who was asked and why, and falls back to every owner when nobody is on call', async () => {
    const id = await fileRequest(bot, ana, 'prod-db 1h rotate the replica');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, id));
    const card = cardFor(bot.fake, dana, id);
    expect(JSON.stringify(bot.fake.message(card.channel, card.ts)!.blocks)).toContain(
      `📟 Asked who is on call (\`${schedule}\`): <@${dana}>`,
    );
    await bot.gatehouse.audit.flush();
    const created = await bot.t.db
      .selectFrom('audit_log')
      .select('body')
      .where('subject', '=', id)
      .where('action', '=', 'request.created')
      .executeTakeFirstOrThrow();
    expect(created.body).toMatchObject({ asked: [dana], asked_because: 'on-call', on_call_schedule: schedule });

    // A new export with nobody on call now (and a different size): read again at the next request.
    const now = Date.now();
    await writeShifts([{ user: emil, from: now + 3 * HOUR, to: now + 11 * HOUR }]);
    const second = await fileRequest(bot, bram, 'prod-db 1h check the failover');
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(dana, second));
    await bot.fake.waitForCall('chat.postMessage', cardPostedTo(emil, second));
    const fallback = cardFor(bot.fake, emil, second);
    expect(JSON.stringify(bot.fake.message(fallback.channel, fallback.ts)!.blocks)).toContain(
      `📟 Nobody was on call in \`${schedule}\` when it was asked: every owner is asked.`,
    );
    // Only Dana ever had a card of the first request.
    expect(bot.fake.dmsTo(emil).some((m) => JSON.stringify(m.blocks).includes(id))).toBe(false);
  });
});
