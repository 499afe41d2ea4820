/**
 * The invariants checked once the chaos run has settled, each a row of the table printed
 * at the end: what was expected, what was observed, pass or fail. Pure over what was
 * gathered (the database's rows, what Slack saw, the access watch, the verifier's exit).
 */
import type { AccessBreach } from './access-watch.ts';
import type { SentCommand } from './slack-protocol.ts';

export interface Row {
  name: string;
  expected: string;
  observed: string;
  /** null for a row that informs and is not an invariant. */
  pass: boolean | null;
}

/** Every seq of the chain exactly once in the audit channel, in order. */
export function channelRow(headSeq: number, chainCount: number, posted: readonly number[]): Row[] {
  const counts = new Map<number, number>();
  for (const seq of posted) counts.set(seq, (counts.get(seq) ?? 0) + 1);
  let missing = 0;
  for (let seq = 1; seq <= headSeq; seq++) if (!counts.has(seq)) missing += 1;
  const repeated = [...counts].filter(([, n]) => n > 1).map(([seq]) => seq);
  const twice = repeated.length;
  const strangers = [...counts.keys()].filter((seq) => seq < 1 || seq > headSeq).length;
  let outOfOrder = 0;
  for (let i = 1; i < posted.length; i++) if (posted[i]! <= posted[i - 1]!) outOfOrder += 1;
  return [
    {
      name: 'chain: every event exactly once',
      expected: `seq 1…head, no gap`,
      observed: `head ${headSeq}, ${chainCount} events`,
      pass: chainCount === headSeq,
    },
    {
      name: 'audit channel: every event exactly once, in order',
      expected: `${headSeq} seqs, each once, ascending`,
      observed:
        `${posted.length} shown; ${missing} missing, ${twice} twice, ${outOfOrder} out of order, ${strangers} unknown` +
        (twice ? ` (shown twice: seq ${repeated.slice(0, 5).join(', ')})` : ''),
      pass: missing === 0 && twice === 0 && outOfOrder === 0 && strangers === 0,
    },
  ];
}

export interface GrantFacts {
  /** Grants whose end has come (ends_at before the check). */
  due: number;
  /** Of those, still not ended. */
  dueNotEnded: string[];
  /** grant.revoked events per ended grant: ids with a count other than 1. */
  revokedNotOnce: { id: string; count: number }[];
  ended: number;
  /** Per grant that ran out: revoked (ended_at) minus ends_at, ms. */
  lateness: number[];
}

export function grantRows(facts: GrantFacts, breaches: AccessBreach[], validPastEnd: number, samples: string): Row[] {
  const sorted = [...facts.lateness].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
  const late = sorted.filter((ms) => ms > 2000).length;
  const worst = [...breaches].sort((a, b) => b.pastEndMs - a.pastEndMs)[0];
  return [
    {
      name: 'every grant that came due ended',
      expected: '0 due and not ended',
      observed: `${facts.due} due, ${facts.dueNotEnded.length} not ended${facts.dueNotEnded.length ? ` (${facts.dueNotEnded.slice(0, 3).join(', ')})` : ''}`,
      pass: facts.dueNotEnded.length === 0,
    },
    {
      name: 'every ended grant revoked exactly once',
      expected: 'one grant.revoked per ended grant',
      observed: `${facts.ended} ended, ${facts.revokedNotOnce.length} not once${
        facts.revokedNotOnce.length
          ? ` (${facts.revokedNotOnce
              .slice(0, 3)
              .map((g) => `${g.id}×${g.count}`)
              .join(', ')})`
          : ''
      }`,
      pass: facts.revokedNotOnce.length === 0,
    },
    {
      name: 'no access alive past end + 2 s (pg_roles)',
      expected: 'no login usable with its membership past end + 2 s; VALID UNTIL ≤ end',
      observed: `${breaches.length} grants seen alive late${worst ? ` (worst ${worst.grantId} +${(worst.pastEndMs / 1000).toFixed(1)} s)` : ''}; ${validPastEnd} VALID UNTIL past end; ${samples}`,
      pass: breaches.length === 0 && validPastEnd === 0,
    },
    {
      name: 'revoked at − ends at (grants that ran out)',
      expected: '≤ 2 s unless a fault was under way',
      observed: `n=${sorted.length}, p50 ${(at(0.5) / 1000).toFixed(2)} s, p99 ${(at(0.99) / 1000).toFixed(2)} s, max ${(at(1) / 1000).toFixed(2)} s, ${late} over 2 s`,
      pass: null,
    },
  ];
}

export interface CommandFacts {
  /** Tokens found in a request's reason, or in a request.refused event's resource. */
  recorded: Set<string>;
}

/** How each slash command ended, as its sender saw it. */
export function commandOutcomes(commands: readonly SentCommand[], facts: CommandFacts) {
  const outcomes = { recorded: 0, answered: 0, slackError: 0, silent: [] as SentCommand[] };
  for (const command of commands) {
    if (facts.recorded.has(command.token)) outcomes.recorded += 1;
    else if (command.answers.length > 0 || command.formShown) outcomes.answered += 1;
    // Not acked (refused connection, 502, Slack's 3 s over): Slack itself tells the sender the command failed.
    else if (command.ack !== '200') outcomes.slackError += 1;
    else outcomes.silent.push(command);
  }
  return outcomes;
}

export function commandRow(commands: readonly SentCommand[], facts: CommandFacts): Row {
  const o = commandOutcomes(commands, facts);
  const example = o.silent[0];
  return {
    name: 'every request recorded or answered',
    expected: 'each command: recorded, or its sender told nothing was',
    observed:
      `${commands.length} sent: ${o.recorded} recorded, ${o.answered} answered without a record, ` +
      `${o.slackError} failed at Slack (sender shown the error), ${o.silent.length} silent` +
      (example ? ` (e.g. ${example.token} by ${example.user}, ack ${example.ack})` : ''),
    pass: o.silent.length === 0,
  };
}

export function printTable(rows: readonly Row[]): string {
  const head = ['invariant', 'expected', 'observed', 'result'];
  const cells = rows.map((r) => [r.name, r.expected, r.observed, r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL']);
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...cells.map((c) => `| ${c.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`),
  ].join('\n');
}

export function gatewayRows(
  counts: { sessions: number; statements: number; lateLoginsRefused: number; lateLoginsAccepted: string[] },
  facts: { statements: number; sessionsStarted: number; sessionsNotEnded: string[]; sessionsEndedTwice: string[] },
): Row[] {
  return [
    {
      name: 'gateway: every statement run is on the chain',
      expected: `gateway.statement events ≥ ${counts.statements} statements answered`,
      observed: `${facts.statements} events for ${counts.statements} answered, in ${counts.sessions} sessions`,
      pass: facts.statements >= counts.statements,
    },
    {
      name: 'gateway: every session on the record ended, once',
      expected: "one gateway.session_ended for each session_started (a killed replica's: replica_lost)",
      observed: `${facts.sessionsStarted} started, ${facts.sessionsNotEnded.length} not ended${facts.sessionsNotEnded.length ? ` (${facts.sessionsNotEnded.slice(0, 3).join(', ')})` : ''}, ${facts.sessionsEndedTwice.length} ended twice${facts.sessionsEndedTwice.length ? ` (${facts.sessionsEndedTwice.slice(0, 3).join(', ')})` : ''}`,
      pass: facts.sessionsNotEnded.length === 0 && facts.sessionsEndedTwice.length === 0,
    },
    {
      name: 'gateway: no login accepted past end + 2 s',
      expected: 'each login tried 3 s after its end refused',
      observed: `${counts.lateLoginsRefused} refused, ${counts.lateLoginsAccepted.length} accepted${counts.lateLoginsAccepted.length ? ` (${counts.lateLoginsAccepted.slice(0, 3).join(', ')})` : ''}`,
      pass: counts.lateLoginsAccepted.length === 0,
    },
  ];
}
