import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyError, resourceById } from '../src/config/policy.ts';
import { loadPolicyFile, parsePolicy } from '../src/provisioners/index.ts';

const FILE = 'gatehouse.yml';
const EXAMPLE = fileURLToPath(new URL('../gatehouse.example.yml', import.meta.url));

// Built line by line so that the line numbers the tests expect can be read off here.
const VALID = [
  'audit_channel: C0123456789', //               1
  'request_ttl: 12h', //                         2
  'groups:', //                                  3
  '  contractors: [U01AAAA1, U01AAAA2]', //      4
  '  db-owners: [U02BBBB2, U02BBBB1]', //        5
  '  auditors: [U03CCCC1]', //                   6
  'resources:', //                               7
  '  - id: prod-db', //                          8
  '    name: Production database (read-only)', // 9
  '    owners: [db-owners, U04DDDD1, U02BBBB1]', // 10
  '    requesters: [contractors]', //            11
  '    default_duration: 1h', //                 12
  '    max_duration: 4h', //                     13
  '    approvals_required: 2', //                14
  '    require_mfa: true', //                    15
  '    approval_channel: C0999', //              16
  '    provisioner:', //                         17
  '      kind: none', //                         18
  '  - id: staging-db', //                       19
  '    name: Staging database', //               20
  '    owners: [U04DDDD1]', //                   21
  '    requesters: [contractors, auditors]', //  22
  '    default_duration: 30m', //                23
  '    max_duration: 1d', //                     24
  '    provisioner: { kind: none }', //          25
].join('\n');

/** The valid policy with some lines replaced; each `from` must occur exactly once. */
function edit(...replacements: [from: string, to: string][]): string {
  return replacements.reduce((text, [from, to]) => {
    expect(text.split(from)).toHaveLength(2);
    return text.replace(from, to);
  }, VALID);
}

function failure(text: string): PolicyError {
  expect(() => parsePolicy(text, FILE)).toThrow(PolicyError);
  try {
    parsePolicy(text, FILE);
  } catch (error) {
    if (error instanceof PolicyError) return error;
  }
  throw new Error('unreachable');
}

/** Asserts a problem at `path` on `line` whose message contains every one of `says`. */
function expectProblem(text: string, path: string, line: number | undefined, ...says: string[]): PolicyError {
  const error = failure(text);
  expect(error.file).toBe(FILE);
  const problem = error.problems.find((candidate) => candidate.path === path);
  expect(problem, `no problem at ${path} in:\n${error.message}`).toBeDefined();
  expect(problem?.line).toBe(line);
  for (const part of says) expect(problem?.message).toContain(part);
  const location = line === undefined ? FILE : `${FILE}:${line}`;
  expect(error.message).toMatch(/^Policy file gatehouse\.yml is not valid \(\d+ problems?\):\n/);
  expect(error.message).toContain(
    path === '' ? `${location}: ${problem?.message}` : `${location} ${path}: ${problem?.message}`,
  );
  return error;
}

describe('a valid policy', () => {
  const policy = parsePolicy(VALID, FILE);

  it('expands groups into sorted, de-duplicated Slack user ids', () => {
    const prodDb = resourceById(policy, 'prod-db');
    expect(prodDb?.owners).toEqual(['U02BBBB1', 'U02BBBB2', 'U04DDDD1']);
    expect(prodDb?.requesters).toEqual(['U01AAAA1', 'U01AAAA2']);
    expect(resourceById(policy, 'staging-db')?.requesters).toEqual(['U01AAAA1', 'U01AAAA2', 'U03CCCC1']);
    expect(policy.groups.get('db-owners')).toEqual(['U02BBBB1', 'U02BBBB2']);
  });

  it('turns snake_case settings into typed camelCase, durations into milliseconds', () => {
    expect(policy.auditChannel).toBe('C0123456789');
    expect(policy.requestTtlMs).toBe(12 * 3_600_000);
    expect(policy.resources.map((resource) => resource.id)).toEqual(['prod-db', 'staging-db']);
    expect(resourceById(policy, 'prod-db')).toEqual({
      id: 'prod-db',
      name: 'Production database (read-only)',
      owners: ['U02BBBB1', 'U02BBBB2', 'U04DDDD1'],
      requesters: ['U01AAAA1', 'U01AAAA2'],
      defaultDurationMs: 3_600_000,
      maxDurationMs: 4 * 3_600_000,
      approvalsRequired: 2,
      requireMfa: true,
      approverMfa: false,
      approvalChannel: 'C0999',
      alerts: { workingHours: null, sensitiveTables: [], rowsOver: null },
      breakGlass: null,
      provisioner: { kind: 'none' },
    });
  });

  it('fills in defaults for what was left out', () => {
    const staging = resourceById(policy, 'staging-db');
    expect(staging?.approvalsRequired).toBe(1);
    expect(staging?.requireMfa).toBe(false);
    expect(staging?.approvalChannel).toBeNull();
    const withoutTtl = parsePolicy(edit(['request_ttl: 12h\n', '']), FILE);
    expect(withoutTtl.requestTtlMs).toBe(24 * 3_600_000);
  });

  it('finds nothing for an unknown resource id', () => {
    expect(resourceById(policy, 'nope')).toBeUndefined();
  });
});

describe('policy files on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-policy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the shipped gatehouse.example.yml', async () => {
    const loaded = await loadPolicyFile(EXAMPLE);
    expect(loaded.path).toBe(EXAMPLE);
    expect(loaded.policy.resources.length).toBeGreaterThanOrEqual(2);
    expect([...loaded.policy.groups.keys()]).toEqual(['contractors', 'db-owners', 'auditors']);
  });

  it('hashes the exact bytes of the file', async () => {
    // CRLF line ends and a BOM must be hashed as written, not as parsed.
    const bytes = Buffer.from(`\uFEFF${VALID.replaceAll('\n', '\r\n')}\r\n`, 'utf8');
    const file = join(dir, 'crlf.yml');
    await writeFile(file, bytes);
    const loaded = await loadPolicyFile(file);
    expect(loaded.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(loaded.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(loaded.policy.resources).toHaveLength(2);
  });

  it('says how to fix a missing file', async () => {
    const file = join(dir, 'missing.yml');
    const load = loadPolicyFile(file);
    await expect(load).rejects.toThrow(PolicyError);
    const error = (await load.catch((caught: unknown) => caught)) as PolicyError;
    expect(error.file).toBe(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.message).toContain('does not exist');
    expect(error.message).toContain(file);
    expect(error.message).toContain('GATEHOUSE_POLICY');
    expect(error.message).toContain('gatehouse.example.yml');
  });

  it('names the file in problems found while loading it', async () => {
    const file = join(dir, 'bad.yml');
    await writeFile(file, edit(['max_duration: 4h', 'max_duration: 6 hours']));
    await expect(loadPolicyFile(file)).rejects.toThrow(
      `${file}:13 resources[0].max_duration: "6 hours" is not a duration`,
    );
  });
});

describe('a policy with problems', () => {
  it('reports a YAML syntax error with its line', () => {
    // The parser notices the missing ] where the next line starts.
    const error = expectProblem(
      edit(['  auditors: [U03CCCC1]', '  auditors: [U03CCCC1']),
      '',
      7,
      'not valid YAML',
      'end with a ]',
    );
    expect(error.message).toContain(`${FILE}:7: not valid YAML`);
  });

  it('reports a key given twice', () => {
    expectProblem(edit(['    max_duration: 4h', '    max_duration: 4h\n    max_duration: 2h']), '', 14, 'unique');
  });

  it('reports an empty file', () => {
    expectProblem('\n', '', undefined, 'empty', 'gatehouse.example.yml');
  });

  it('reports a misspelt resource key, suggesting the right one', () => {
    expectProblem(
      edit(['    max_duration: 4h', '    max_duraton: 4h']),
      'resources[0].max_duraton',
      13,
      'unknown key "max_duraton"',
      'did you mean max_duration?',
      'allowed keys are id, name, owners',
    );
  });

  it('reports each unknown key on its own line', () => {
    const error = failure(edit(['request_ttl: 12h', 'request_tll: 12h\nauditors: []']));
    expect(error.problems.map(({ path, line }) => ({ path, line }))).toEqual([
      { path: 'request_tll', line: 2 },
      { path: 'auditors', line: 3 },
    ]);
    expect(error.problems[0]?.message).toContain('did you mean request_ttl?');
    expect(error.message).toContain(
      'allowed keys are audit_channel, request_ttl, remind_after, checkpoint_every, checkpoint_every_events, groups, mfa_admins, alerts, contracts, reviews, resources',
    );
    expect(error.message).toMatch(/\(2 problems\):/);
  });

  it('reports an unknown provisioner kind with the kinds allowed', () => {
    expectProblem(
      edit(['      kind: none', '      kind: postgress']),
      'resources[0].provisioner.kind',
      18,
      '"postgress" is not a provisioner kind',
      'allowed kinds are none',
    );
  });

  it('reports a duration that is not one', () => {
    const error = expectProblem(
      edit(['    max_duration: 4h', '    max_duration: 6 hours']),
      'resources[0].max_duration',
      13,
    );
    expect(error.message).toContain(
      'gatehouse.yml:13 resources[0].max_duration: "6 hours" is not a duration: use a number and a unit, like 30m, 4h, 1h30m or 2d',
    );
  });

  it('reports a default duration above the maximum, with both values', () => {
    expectProblem(
      edit(['    default_duration: 1h', '    default_duration: 6h']),
      'resources[0].default_duration',
      12,
      '6h is longer than max_duration 4h',
      'lower default_duration or raise max_duration',
    );
  });

  it('reports a duplicate resource id at the later resource, naming the earlier one', () => {
    expectProblem(
      edit(['  - id: staging-db', '  - id: prod-db']),
      'resources[1].id',
      19,
      '"prod-db" is already the id of resources[0]',
      'must be unique',
    );
  });

  it('reports an owner naming a group that does not exist, listing the groups', () => {
    expectProblem(
      edit(['[db-owners, U04DDDD1, U02BBBB1]', '[db-owner, U04DDDD1, U02BBBB1]']),
      'resources[0].owners[0]',
      10,
      '"db-owner" is not a defined group',
      'contractors, db-owners, auditors',
      'use a Slack user id',
    );
  });

  it('reports a requester naming a group that does not exist', () => {
    expectProblem(
      edit(['[contractors, auditors]', '[contractors, auditers]']),
      'resources[1].requesters[1]',
      22,
      '"auditers" is not a defined group',
      'contractors, db-owners, auditors',
    );
  });

  it('reports an owner entry that is neither a user id nor a group name', () => {
    expectProblem(
      edit(['    owners: [U04DDDD1]', '    owners: ["@dana"]']),
      'resources[1].owners[0]',
      21,
      '"@dana" is not a Slack user id or group name',
      'U01AB2CD3',
    );
  });

  it('reports more approvals required than distinct owners', () => {
    expectProblem(
      edit(['    approvals_required: 2', '    approvals_required: 4']),
      'resources[0].approvals_required',
      14,
      '4 approvals are required but there are only 3 distinct owners',
      'lower approvals_required or add owners',
    );
  });

  it('reports approvals_required that is not a whole number of at least 1', () => {
    expectProblem(
      edit(['    approvals_required: 2', '    approvals_required: 0']),
      'resources[0].approvals_required',
      14,
      '0 is not a number of approvals',
      'whole number, 1 or more',
    );
  });

  it('reports a group member that is not a Slack user id', () => {
    expectProblem(
      edit(['[U01AAAA1, U01AAAA2]', '[U01AAAA1, ana]']),
      'groups.contractors[1]',
      4,
      '"ana" is not a Slack user id',
      'U01AB2CD3',
    );
  });

  it('reports a group name that could be mistaken for something else', () => {
    expectProblem(
      edit(['  auditors:', '  Auditors:']),
      'groups.Auditors',
      6,
      '"Auditors" is not a group name',
      'lowercase',
    );
  });

  it('reports a policy without resources', () => {
    expectProblem(
      VALID.slice(0, VALID.indexOf('resources:')) + 'resources: []\n',
      'resources',
      7,
      'needs at least one resource',
    );
    expectProblem(VALID.slice(0, VALID.indexOf('resources:')), 'resources', 1, 'is required');
  });

  it('reports a resource without owners', () => {
    expectProblem(
      edit(['    owners: [U04DDDD1]', '    owners: []']),
      'resources[1].owners',
      21,
      'needs at least one owner',
      'Slack user ids or group names',
    );
  });

  it('reports owners that expand to no one', () => {
    expectProblem(
      edit(['  auditors: [U03CCCC1]', '  auditors: []'], ['    owners: [U04DDDD1]', '    owners: [auditors]']),
      'resources[1].owners',
      21,
      'expands to no one',
    );
  });

  it('reports a channel given by name instead of id', () => {
    expectProblem(
      edit(['audit_channel: C0123456789', 'audit_channel: "#access-audit"']),
      'audit_channel',
      1,
      '"#access-audit" is not a Slack channel id',
      'C0123456789',
    );
  });

  it('reports a missing required setting at the resource that lacks it', () => {
    expectProblem(edit(['    name: Staging database\n', '']), 'resources[1].name', 19, 'is required');
  });

  it('reports every problem at once, in file order', () => {
    const error = failure(
      edit(
        ['    default_duration: 30m', '    default_duration: 2d'],
        ['audit_channel: C0123456789', 'audit_channel: general'],
        ['      kind: none', '      kind: ldap'],
      ),
    );
    expect(error.problems.map((problem) => problem.path)).toEqual([
      'audit_channel',
      'resources[0].provisioner.kind',
      'resources[1].default_duration',
    ]);
    expect(error.message.split('\n')).toHaveLength(4);
    expect(error.message).toMatch(/^Policy file gatehouse\.yml is not valid \(3 problems\):/);
  });
});

describe('the alerts section', () => {
  const withAlerts = (alerts: string, resource = '') =>
    edit(
      ['resources:', `${alerts}\nresources:`],
      ['    approval_channel: C0999', `    approval_channel: C0999${resource}`],
    );

  it('turns every detector on with its defaults when left out, and off with false', () => {
    const on = parsePolicy(VALID, FILE).alerts;
    expect(on).toMatchObject({
      channel: null,
      security: [],
      workingHours: null,
      offHours: true,
      refusals: { count: 5, withinMs: 600_000 },
      rubberStamps: { withinMs: 10_000, sharePercent: 80, minApprovals: 10 },
      sprees: { resources: 4, withinMs: 3_600_000, maxDurationRepeats: 3 },
      stuckAccess: { revokeFailures: 3, overdueAfterMs: 120_000 },
      database: { rowsOver: 10_000, rateFactor: 10, rateFloorPerMinute: 120 },
      unusedAccess: { weekday: 1, hourUtc: 9 },
    });
    const off = parsePolicy(withAlerts('alerts: { database: false, refusals: { count: 3 }, off_hours: false }'), FILE);
    expect(off.alerts).toMatchObject({ database: null, offHours: false, refusals: { count: 3, withinMs: 600_000 } });
    expect(parsePolicy(withAlerts('alerts: false'), FILE).alerts).toMatchObject({
      offHours: false,
      refusals: null,
      rubberStamps: null,
      sprees: null,
      stuckAccess: null,
      database: null,
      unusedAccess: null,
    });
  });

  it('expands the security group, reads working hours, and a resource its own settings', () => {
    const policy = parsePolicy(
      withAlerts(
        'alerts:\n  channel: C0SEC0001\n  security: [auditors, U05EEEE1]\n  working_hours: { days: "mon-fri,sun", hours: 08:30-19:00, time_zone: Europe/Berlin }',
        '\n    alerts: { sensitive_tables: [Public.Customers, cards], rows_over: 50 }',
      ),
      FILE,
    );
    expect(policy.alerts.channel).toBe('C0SEC0001');
    expect(policy.alerts.security).toEqual(['U03CCCC1', 'U05EEEE1']);
    expect(policy.alerts.workingHours).toMatchObject({
      days: [0, 1, 2, 3, 4, 5],
      fromMinute: 510,
      toMinute: 1140,
      timeZone: 'Europe/Berlin',
    });
    expect(resourceById(policy, 'prod-db')?.alerts).toEqual({
      workingHours: null,
      sensitiveTables: ['public.customers', 'cards'],
      rowsOver: 50,
    });
    expect(resourceById(policy, 'staging-db')?.alerts).toEqual({
      workingHours: null,
      sensitiveTables: [],
      rowsOver: null,
    });
  });

  it('reports a time zone, hours and days that are not, each at its line', () => {
    const error = failure(
      withAlerts('alerts:\n  working_hours: { days: mon-fry, hours: 19:00-08:00, time_zone: Europe/Berlim }'),
    );
    expect(error.problems.map((p) => [p.path, p.line])).toEqual([
      ['alerts.working_hours.days', 8],
      ['alerts.working_hours.hours', 8],
      ['alerts.working_hours.time_zone', 8],
    ]);
    expect(error.message).toContain('"mon-fry" is not a day or a range of days: use mon … sun, like mon-fri');
    expect(error.message).toContain('the start before the end');
    expect(error.message).toContain('"Europe/Berlim" is not a time zone this system knows');
  });

  it('reports an unknown detector with a suggestion, thresholds out of range, and undefined groups', () => {
    expectProblem(withAlerts('alerts: { refusal: false }'), 'alerts.refusal', 7, 'did you mean refusals?');
    expectProblem(withAlerts('alerts: { refusals: { count: 1 } }'), 'alerts.refusals.count', 7, 'must be 2 or more');
    expectProblem(withAlerts('alerts: { refusals: yes please }'), 'alerts.refusals', 7, 'write false to turn it off');
    expectProblem(
      withAlerts('alerts: { security: [secops] }'),
      'alerts.security[0]',
      7,
      '"secops" is not a defined group',
    );
    expectProblem(
      withAlerts('alerts: {}', '\n    alerts: { sensitive_tables: ["drop table x"] }'),
      'resources[0].alerts.sensitive_tables[0]',
      18,
      'public.customers',
    );
  });
});
