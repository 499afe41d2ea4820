import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../src/audit/actions.ts';
import { ACTION_PATTERN } from '../src/audit/event.ts';

const root = join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** Every page a reader may take an action's name from. */
function docPages(): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => join('docs', file));
  return [...['README.md', 'CONTRIBUTING.md'].filter((file) => existsSync(join(root, file))), ...docs].sort();
}

/** The actions in the first column of docs/audit-log.md's table in 2.1. */
function actionsInTable(): string[] {
  const page = read('docs/audit-log.md');
  const start = page.indexOf('### 2.1 The actions Gatehouse records');
  expect(start, 'docs/audit-log.md has lost its section 2.1, the table of actions').toBeGreaterThan(-1);
  const section = page.slice(start, page.indexOf('\n## ', start));
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]!);
}

// Words that end a file name, not an action (`audit.jsonl`, `policy.yml`).
const FILE_EXTENSIONS = new Set(['js', 'json', 'jsonl', 'md', 'mjs', 'pem', 'sql', 'ts', 'txt', 'yaml', 'yml']);

/** Dotted names on `text` that start as an action does (`grant.`, `mfa.` …), wherever they stand: code, tables, prose. */
function actionLikeNames(text: string): string[] {
  const prefixes = [...new Set(AUDIT_ACTIONS.map((action) => action.split('.')[0]))].join('|');
  // Not part of a longer name or a path: `gatehouse.request.resource`, `src/audit.ts`.
  const pattern = new RegExp(`(?<![\\w./-])(?:${prefixes})(?:\\.[a-z][a-z0-9_]*)+(?![\\w/-]|\\.[a-z0-9_])`, 'g');
  return [...text.matchAll(pattern)]
    .map((match) => match[0])
    .filter((name) => !FILE_EXTENSIONS.has(name.split('.').at(-1)!));
}

describe('the list of audit actions', () => {
  it('holds each action once, each dotted lower-case as the log requires', () => {
    expect(new Set(AUDIT_ACTIONS).size).toBe(AUDIT_ACTIONS.length);
    for (const action of AUDIT_ACTIONS) expect(action).toMatch(ACTION_PATTERN);
  });

  it('is the table in docs/audit-log.md, row for row', () => {
    const table = actionsInTable();
    const missing = AUDIT_ACTIONS.filter((action) => !table.includes(action));
    expect(
      missing,
      'recorded by the code but missing from the table in docs/audit-log.md 2.1: add a row (who records it, its subject and body)',
    ).toEqual([]);
    const unknown = table.filter((action) => !(AUDIT_ACTIONS as readonly string[]).includes(action));
    expect(
      unknown,
      'in the table of docs/audit-log.md 2.1 but never recorded: remove the row, or add the action to src/audit/actions.ts',
    ).toEqual([]);
    expect(new Set(table).size, 'an action has two rows in docs/audit-log.md 2.1').toBe(table.length);
  });

  it('is all the docs name: no page names an action the code never records', () => {
    const named = docPages().flatMap((file) => actionLikeNames(read(file)).map((name) => ({ file, name })));
    expect(named.length, 'the docs name no action at all: the scan is broken').toBeGreaterThan(0);
    const unknown = named
      .filter(({ name }) => !(AUDIT_ACTIONS as readonly string[]).includes(name))
      .map(({ file, name }) => `${file}: ${name}`);
    expect(
      unknown,
      'not an action Gatehouse records (src/audit/actions.ts): name the one it does record, or if it is not an audit action, do not spell it like one',
    ).toEqual([]);
  });

  it('finds a wrong name wherever a page puts it, and leaves file names alone', () => {
    const page =
      "Each attempt is recorded (`grant.provisioned`), see `where action = 'mfa.lockout'` and grant.ended. Export to audit.jsonl; ids like gatehouse.request.resource.";
    expect(actionLikeNames(page)).toEqual(['grant.provisioned', 'mfa.lockout', 'grant.ended']);
  });
});
