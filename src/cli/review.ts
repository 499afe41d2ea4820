import type { Command } from 'commander';
import { AuditLog } from '../audit/audit-log.ts';
import { reviewReports, type ReviewReport } from '../access/reviews-report.ts';
import type { Config } from '../config/env.ts';
import type { Policy } from '../config/policy.ts';
import type { DatabaseHandle } from '../db/database.ts';
import { createLogger } from '../log.ts';

/** What main.ts lends: the database the app records into (schema checked), and the policy in force, if readable. */
export interface ReviewCommandDeps {
  withDatabase<T>(work: (database: DatabaseHandle) => Promise<T>): Promise<T>;
  policy(): Promise<Policy | null>;
  config(): Config;
}

const FORMATS = ['json', 'csv', 'md'] as const;
type Format = (typeof FORMATS)[number];

/** `gatehouse review export [--review ID] [--format json|csv|md]` (docs/reviews.md). */
export function registerReviewCommands(program: Command, deps: ReviewCommandDeps): void {
  const review = program.command('review').description('access reviews: the evidence of who kept or removed whom');
  review
    .command('export')
    .description(
      'print the report of access reviews: each decision with who made it and when, what was removed and the policy change still pending, with the seqs of the audit events that record them',
    )
    .option('--review <id>', 'one review (rev_…) instead of all')
    .option('--format <format>', `one of ${FORMATS.join(', ')}`, 'json')
    .action(async (options: { review?: string; format: string }) => {
      if (!FORMATS.includes(options.format as Format)) {
        process.stderr.write(`--format ${options.format} is not known: use one of ${FORMATS.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      const policy = await deps.policy();
      await deps.withDatabase(async (database) => {
        // As audit export does: what is queued is chained first, so every event has its seq.
        await new AuditLog(database.db, database.pool, createLogger({ level: 'silent' })).flush();
        const reports = await reviewReports(database.db, policy, options.review);
        if (options.review !== undefined && reports.length === 0) {
          process.stderr.write(`There is no review ${options.review}: run gatehouse review export to list them all\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(formatReports(reports, options.format as Format));
      });
    });
}

export function formatReports(reports: ReviewReport[], format: Format): string {
  if (format === 'json') return `${JSON.stringify(reports, null, 2)}\n`;
  if (format === 'csv') {
    const head =
      'review,resource,due_at,person,grants,total_ms,decision,decided_by,decided_at,decided_seq,change_applied_at,change_applied_seq';
    const cell = (v: unknown) => {
      const text = v === null || v === undefined ? '' : String(v);
      return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
    };
    const rows = reports.flatMap((r) =>
      r.people.map((p) =>
        [r.review, r.resource, r.due_at, p.person, p.grants, p.total_ms, p.decision, p.decided_by, p.decided_at]
          .concat([p.decided_seq, p.change_applied_at, p.change_applied_seq])
          .map(cell)
          .join(','),
      ),
    );
    return `${[head, ...rows].join('\n')}\n`;
  }
  return reports.map(markdown).join('\n');
}

function markdown(r: ReviewReport): string {
  const seq = (n: number | null) => (n === null ? 'not chained yet' : `seq ${n}`);
  const lines = [
    `## Review ${r.review}: ${r.resource}`,
    '',
    `Due ${r.due_at}; grants from ${r.period_start} to ${r.period_end}. Owners: ${r.owners.join(', ')}.`,
    `Opened ${r.opened_at} (${seq(r.opened_seq)}); ${r.completed_at ? `completed ${r.completed_at} (${seq(r.completed_seq)})` : 'still open'}.`,
    '',
    '| Person | Grants | Decision | By | At | Evidence | Policy change |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.people.map((p) => {
      const change =
        p.decision !== 'remove'
          ? ''
          : p.change_applied_at
            ? `applied ${p.change_applied_at} (${seq(p.change_applied_seq)})`
            : 'pending';
      return `| ${p.person} | ${p.grants} | ${p.decision ?? 'undecided'} | ${p.decided_by ?? ''} | ${p.decided_at ?? ''} | ${p.decided_seq === null ? '' : seq(p.decided_seq)} | ${change} |`;
    }),
  ];
  const pending = r.people.filter((p) => p.policy_change);
  if (pending.length > 0)
    lines.push('', 'Policy changes still to make:', '', '```diff', ...pending.map((p) => p.policy_change!), '```');
  return `${lines.join('\n')}\n`;
}
