import type { AuditEvent } from '../event.ts';
import type { GrantIds } from './links.ts';

/** Something the receipt's events say that cannot be the whole story: an event missing or out of place. */
export interface StoryProblem {
  /** The event where it shows, or null when the problem is an absence. */
  seq: number | null;
  message: string;
}

/** What the receipt's events say happened, for the verifier's summary. */
export interface GrantStory {
  grant: string;
  user: string | null;
  resource: string | null;
  request: { id: string; requester: string; time: string; reason: string; mfaChecked: boolean } | null;
  approvals: { approver: string; time: string; mfaChecked: boolean }[];
  approvedAt: string | null;
  refusals: number;
  mfaFailures: number;
  activeAt: string | null;
  endsAt: string | null;
  extensions: number;
  sessions: number;
  statements: number;
  refusedStatements: number;
  ending: { time: string; reason: string } | null;
  revoked: { time: string; accessLeft: unknown; dryRun: boolean } | null;
  alerts: number;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/**
 * The approvals of one request: `approval.recorded` events with `given` = 1, 2, … in seq
 * order, and a `request.approved` whose `approvers` are their actors in that order.
 */
function checkApprovals(requestId: string, events: readonly AuditEvent[], problems: StoryProblem[]): void {
  const mine = events.filter((e) => e.subject === requestId);
  const created = mine.filter((e) => e.action === 'request.created');
  if (created.length !== 1)
    problems.push({
      seq: created[1]?.seq ?? null,
      message: `request ${requestId} needs one request.created, not ${created.length}`,
    });
  const recorded = mine.filter((e) => e.action === 'approval.recorded');
  recorded.forEach((e, i) => {
    if (e.body.given !== i + 1)
      problems.push({
        seq: e.seq,
        message: `approval ${i + 1} of ${requestId} says given ${String(e.body.given)}: an approval is missing`,
      });
  });
  const approved = mine.filter((e) => e.action === 'request.approved');
  if (approved.length > 1) problems.push({ seq: approved[1]!.seq, message: `request ${requestId} is approved twice` });
  const last = approved[0];
  if (!last) return;
  const approvers = Array.isArray(last.body.approvers) ? last.body.approvers : [];
  const actors = recorded.filter((e) => e.seq <= last.seq).map((e) => e.actor);
  if (approvers.length !== actors.length || approvers.some((a, i) => a !== actors[i]))
    problems.push({
      seq: last.seq,
      message: `request.approved names approvers ${approvers.join(', ') || 'none'}, but the receipt's approval.recorded events are by ${actors.join(', ') || 'nobody'}`,
    });
  if (created[0] && created[0].seq > last.seq)
    problems.push({ seq: created[0].seq, message: `request ${requestId} was created after it was approved` });
}

/** A session's statements are numbered 1, 2, … with no gap; its end counts them. */
function checkSession(sessionId: string, events: readonly AuditEvent[], problems: StoryProblem[]): void {
  const mine = events.filter((e) => e.subject === sessionId);
  const started = mine.filter((e) => e.action === 'gateway.session_started');
  if (started.length !== 1 || mine[0]?.action !== 'gateway.session_started')
    problems.push({
      seq: mine[0]?.seq ?? null,
      message: `session ${sessionId} must begin with its one gateway.session_started`,
    });
  const numbered = mine.filter((e) => e.action === 'gateway.statement' || e.action === 'gateway.statement_refused');
  numbered.forEach((e, i) => {
    if (e.body.n !== i + 1)
      problems.push({
        seq: e.seq,
        message: `statement n=${String(e.body.n)} of session ${sessionId} follows n=${i}: statement ${i + 1} is missing`,
      });
  });
  const ended = mine.filter((e) => e.action === 'gateway.session_ended');
  if (ended.length > 1) problems.push({ seq: ended[1]!.seq, message: `session ${sessionId} ends twice` });
  const end = ended[0];
  if (!end) return;
  const refused = numbered.filter((e) => e.action === 'gateway.statement_refused').length;
  // A lost replica's session was ended by the sweep with the counts its row had when the
  // replica was last seen (`counts_as_of`): what it recorded after that is on the chain, so
  // they are at most the chain's. Any other end is counted by the session itself, exactly.
  const lost = end.body.reason === 'replica_lost';
  const counted = (said: unknown, held: number) =>
    lost ? typeof said === 'number' && Number.isInteger(said) && said >= 0 && said <= held : said === held;
  if (!counted(end.body.statements, numbered.length) || !counted(end.body.refused, refused))
    problems.push({
      seq: end.seq,
      message: `session ${sessionId} ended counting ${String(end.body.statements)} statement(s), ${String(end.body.refused)} refused; the receipt holds ${numbered.length}, ${refused} refused`,
    });
  const after = mine.find((e) => e.seq > end.seq && e.action !== 'gateway.statement_done');
  if (after) problems.push({ seq: after.seq, message: `session ${sessionId} has ${after.action} after its end` });
}

/** The checks of docs/merkle.md §13.3 step 7 over events already known to be about the grant. */
export function checkStory(ids: GrantIds, events: readonly AuditEvent[]): StoryProblem[] {
  const problems: StoryProblem[] = [];
  const grantEvents = events.filter((e) => e.subject === ids.grant);
  const provisioning = grantEvents.filter((e) => e.action === 'grant.provisioning');
  if (provisioning.length !== 1 || ids.request === null) {
    problems.push({
      seq: provisioning[1]?.seq ?? null,
      message: `the grant needs one grant.provisioning naming its request, not ${provisioning.length}`,
    });
  } else {
    checkApprovals(ids.request, events, problems);
    const approved = events.find((e) => e.subject === ids.request && e.action === 'request.approved');
    if (!approved) problems.push({ seq: null, message: `the grant's request ${ids.request} has no request.approved` });
    else if (approved.body.grant !== ids.grant)
      problems.push({ seq: approved.seq, message: `request.approved names grant ${String(approved.body.grant)}` });
    const first = grantEvents[0];
    if (first && first !== provisioning[0])
      problems.push({ seq: first.seq, message: `${first.action} comes before the grant's grant.provisioning` });
  }
  for (const extension of ids.extensions) {
    checkApprovals(extension, events, problems);
    const approved = events.find((e) => e.subject === extension && e.action === 'request.approved');
    const moved = grantEvents.find((e) => e.action === 'grant.extending' && e.body.request === extension);
    if (approved && !moved)
      problems.push({
        seq: approved.seq,
        message: `extension ${extension} was approved, but no grant.extending applies it`,
      });
  }
  for (const moved of grantEvents.filter((e) => e.action === 'grant.extending'))
    if (typeof moved.body.request !== 'string' || !ids.extensions.has(moved.body.request))
      problems.push({
        seq: moved.seq,
        message: `grant.extending names extension ${String(moved.body.request)}, whose request.created is not in the receipt`,
      });
  const sessions = new Set(
    events
      .filter((e) => e.action.startsWith('gateway.') && e.subject?.startsWith('ses_'))
      .map((e) => e.subject as string),
  );
  for (const session of sessions) checkSession(session, events, problems);
  const revoked = grantEvents.find((e) => e.action === 'grant.revoked');
  const ending = grantEvents.find((e) => e.action === 'grant.ending');
  if (revoked && (!ending || ending.seq > revoked.seq))
    problems.push({ seq: revoked.seq, message: 'grant.revoked has no grant.ending before it' });
  return problems;
}

/** What happened, read from the events (checked or not: the caller says which). */
export function tellStory(ids: GrantIds, events: readonly AuditEvent[]): GrantStory {
  const of = (subject: string | null, action: string) =>
    events.filter((e) => e.subject === subject && e.action === action);
  const created = ids.request ? of(ids.request, 'request.created')[0] : undefined;
  const provisioning = of(ids.grant, 'grant.provisioning')[0];
  const active = of(ids.grant, 'grant.active')[0];
  const ending = of(ids.grant, 'grant.ending')[0];
  const revoked = of(ids.grant, 'grant.revoked')[0];
  const ends = [...events].reverse().find((e) => e.subject === ids.grant && text(e.body.ends_at));
  const numbered = events.filter((e) => e.action === 'gateway.statement' || e.action === 'gateway.statement_refused');
  return {
    grant: ids.grant,
    user: text(provisioning?.body.user),
    resource: text(provisioning?.body.resource),
    request: created
      ? {
          id: ids.request as string,
          requester: created.actor,
          time: created.time,
          reason: text(created.body.reason) ?? '',
          mfaChecked: created.body.mfa_checked === true,
        }
      : null,
    approvals: of(ids.request, 'approval.recorded').map((e) => ({
      approver: e.actor,
      time: e.time,
      mfaChecked: e.body.mfa_checked === true,
    })),
    approvedAt: of(ids.request, 'request.approved')[0]?.time ?? null,
    refusals: events.filter((e) => e.action === 'approval.refused').length,
    mfaFailures: events.filter((e) => e.action.startsWith('mfa.')).length,
    activeAt: active?.time ?? null,
    endsAt: text(ends?.body.ends_at),
    extensions: of(ids.grant, 'grant.extending').length,
    sessions: events.filter((e) => e.action === 'gateway.session_started').length,
    statements: numbered.length,
    refusedStatements: numbered.filter((e) => e.action === 'gateway.statement_refused').length,
    ending: ending ? { time: ending.time, reason: text(ending.body.reason) ?? 'unknown' } : null,
    revoked: revoked
      ? { time: revoked.time, accessLeft: revoked.body.access_left, dryRun: revoked.body.dry_run === true }
      : null,
    alerts: events.filter((e) => e.action === 'alert.raised').length,
  };
}
