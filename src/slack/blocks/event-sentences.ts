/**
 * One plain sentence for each audit event, as the audit channel shows it: people as
 * mentions, resources by name where the caller knows it, durations in words, times in each
 * reader's own zone, and a reason whole (the caller splits it across sections if need be).
 */
import type { AuditEventSummary } from '../../access/types.ts';
import { escapeText, formatWhen, mention, plural, userText } from './text.ts';

/** Resource names by id, when the caller has the policy at hand. */
export type ResourceNames = (id: string) => string | undefined;

/** Free text recorded for machines (SQL, provisioner errors, alert details): the log keeps it whole. */
const MAX_DETAIL = 300;
const MAX_NAME = 150;

type Body = Record<string, unknown>;

const str = (body: Body, key: string): string | undefined =>
  typeof body[key] === 'string' && body[key] !== '' ? body[key] : undefined;
const num = (body: Body, key: string): number | undefined =>
  typeof body[key] === 'number' && Number.isFinite(body[key]) ? body[key] : undefined;

/** "1 h", "30 min", "1 h 30 min", "2 d 4 h", "45 s". */
export function durationWords(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'an unknown time';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const minutes = Math.round(ms / 60_000);
  const parts: [number, string][] = [
    [Math.floor(minutes / 1440), 'd'],
    [Math.floor((minutes % 1440) / 60), 'h'],
    [minutes % 60, 'min'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .slice(0, 2)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

/** A Slack user as a mention; Gatehouse itself and the CLI by name. */
function who(id: string | undefined): string {
  if (!id) return 'someone';
  if (id === 'system') return 'Gatehouse';
  return mention(id).startsWith('<@') ? mention(id) : `\`${escapeText(id)}\``;
}

/** "<@U1>'s", or "Gatehouse's". */
const whose = (id: string | undefined): string => (id ? `${who(id)}'s` : "someone's");

function when(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : formatWhen(date);
}

/** Words for the reason codes the domain records (`not-approver`, `wrong_password`). */
const CODES: Record<string, string> = {
  'own-request': 'it is their own request',
  'not-approver': 'they are not an approver',
  'unknown-resource': 'there is no such resource',
  'not-allowed': 'the policy does not allow it',
  'not-mfa-admin': 'they are not an MFA admin',
  'mfa-own-reset': 'nobody may reset their own MFA',
  'not-responder': 'they may not act on this alert',
  'about-you': 'the alert is about them',
  'not-auditor': 'they are not an auditor',
  'not-owner': 'they are not an owner',
  'own-break-glass': 'it is their own break-glass access',
  'break-glass-not-allowed': 'the policy does not let them break the glass',
  'break-glass-too-long': 'it is longer than break-glass allows',
  'contract-ended': 'their contract has ended',
  contract_ended: 'their contract has ended',
  expired: 'its time ran out',
  released: 'it was given back early',
  wrong_password: 'wrong password',
  not_started: 'the grant has not started',
  ended: 'the grant has ended',
  wrong_database: 'wrong database',
  client_closed: 'the client closed it',
  grant_ended: 'the grant ended',
  ended_by_owner: 'an owner ended it',
  upstream_closed: 'the database closed it',
  setting_changed: 'the client changed a setting the gateway reads statements by',
  gateway_stopped: 'the gateway stopped',
  replica_lost: 'the gateway replica holding it was lost',
};
const code = (value: string | undefined): string =>
  value === undefined ? 'no reason given' : (CODES[value] ?? escapeText(value.replace(/[-_]/g, ' ')));

/** Text a person typed, whole, in quotes. */
const quoted = (text: string | undefined): string => (text ? `: “${escapeText(text)}”` : '');
const detail = (text: string | undefined): string =>
  text ? `: ${userText(text.replace(/\s+/g, ' '), MAX_DETAIL)}` : '';
const sql = (text: string | undefined): string =>
  text ? ` \`${userText(text.replace(/\s+/g, ' ').replace(/`/g, "'"), MAX_DETAIL)}\`` : '';

type Sentence = (e: AuditEventSummary, b: Body, r: (id: unknown) => string) => string;

const SENTENCES: Record<string, Sentence> = {
  'request.created': (e, b, r) => {
    const ms = num(b, 'duration_ms');
    const extension = str(b, 'extends_grant') ? ' more, extending their access' : '';
    const mfa = b.mfa_checked === true ? ' (MFA code checked)' : '';
    const ticket = str(b, 'ticket') ? ` for ticket \`${escapeText(str(b, 'ticket')!.replace(/`/g, "'"))}\`` : '';
    return `${who(e.actor)} requested ${r(b.resource)}${ms === undefined ? '' : `, ${durationWords(ms)}${extension}`}${mfa}${ticket}${quoted(str(b, 'reason'))}`;
  },
  'request.escalated': (_e, b) => {
    const after = num(b, 'after_ms');
    return `Gatehouse sent a pending request to @${escapeText(str(b, 'to') ?? '?')} as well${after === undefined ? '' : `: nobody answered in ${durationWords(after)}`}.`;
  },
  'request.cancelled': (e, b, r) =>
    b.reason === 'contract_ended'
      ? `Gatehouse withdrew a request for ${r(b.resource)}: the requester's contract has ended.`
      : b.reason === 'grant_ended'
        ? `Gatehouse withdrew a request to extend access to ${r(b.resource)}: the access had ended.`
        : `${who(e.actor)} withdrew their request for ${r(b.resource)}.`,
  'approval.recorded': (e, b, r) => {
    const given = num(b, 'given');
    const required = num(b, 'required');
    const count = given !== undefined && required !== undefined ? ` (${given} of ${required})` : '';
    return `${who(e.actor)} approved a request for ${r(b.resource)}${count}${b.mfa_checked === true ? ', MFA code checked' : ''}.`;
  },
  'approval.refused': (e, b, r) =>
    `${who(e.actor)} tried to ${b.decision === 'deny' ? 'deny' : 'approve'} a request for ${r(b.resource)} and was refused: ${code(str(b, 'reason'))}.`,
  'request.approved': (_e, b, r) => {
    const approvers = Array.isArray(b.approvers) ? b.approvers.filter((a) => typeof a === 'string') : [];
    const by = approvers.length > 0 ? ` by ${approvers.map(who).join(', ')}` : '';
    return `The ${str(b, 'extends_grant') ? 'extension' : 'request'} for ${r(b.resource)} is approved${by}.`;
  },
  'request.denied': (e, b, r) => `${who(e.actor)} denied a request for ${r(b.resource)}${quoted(str(b, 'reason'))}`,
  'request.expired': (_e, b, r) =>
    `${whose(str(b, 'requester'))} request for ${r(b.resource)} expired: nobody decided in time.`,
  'request.reminded': (_e, b) =>
    `Gatehouse reminded the approvers of a pending request (reminder ${num(b, 'reminder') ?? 1}).`,
  'request.refused': (e, b, r) => {
    const max = num(b, 'max_ms');
    const why =
      b.reason === 'too-long' && max !== undefined
        ? `it may last at most ${durationWords(max)}`
        : code(str(b, 'reason'));
    return `${who(e.actor)} asked for ${r(b.resource)} and was refused: ${why}.`;
  },
  'grant.provisioning': (_e, b, r) =>
    `Gatehouse is giving ${who(str(b, 'user'))} access to ${r(b.resource)}${until(b)}.`,
  'grant.active': (_e, b, r) =>
    `${who(str(b, 'user'))} has access to ${r(b.resource)}${until(b)}${tries(b)}${b.dry_run === true ? ' (dry run: nothing was changed)' : ''}.`,
  'grant.extending': (_e, b, r) =>
    `${whose(str(b, 'user'))} access to ${r(b.resource)} is extended${until(b)}${when(b.previous_ends_at) ? ` (it was to end ${when(b.previous_ends_at)})` : ''}.`,
  'grant.extended': (_e, b, r) =>
    `${r(b.resource)} now holds ${whose(str(b, 'user'))} access${until(b)}${tries(b)}${b.dry_run === true ? ' (dry run: nothing was changed)' : ''}.`,
  'grant.extend_failed': (_e, b, r) =>
    `Moving the end of ${whose(str(b, 'user'))} access to ${r(b.resource)} failed${attempt(b)}${detail(str(b, 'error'))}; retrying.`,
  'grant.provision_failed': (_e, b, r) =>
    `Giving ${who(str(b, 'user'))} access to ${r(b.resource)} failed${attempt(b)}; Gatehouse will try again${detail(str(b, 'error'))}`,
  'grant.ending': (e, b, r) =>
    b.reason === 'released'
      ? `${who(e.actor === 'system' ? str(b, 'user') : e.actor)} gave back their access to ${r(b.resource)}.`
      : `${whose(str(b, 'user'))} access to ${r(b.resource)} is ending: ${code(str(b, 'reason'))}.`,
  'grant.revoked': (_e, b, r) => {
    const sessions = num(b, 'sessions_ended');
    const kept = str(b, 'access_kept_for') ? ' (the user group stays: another live grant needs it)' : '';
    const cut = sessions ? `, ${plural(sessions, 'session')} ended` : '';
    return `${whose(str(b, 'user'))} access to ${r(b.resource)} was taken away${cut}${kept}${b.dry_run === true ? ' (dry run)' : ''}.`;
  },
  'grant.revoke_failed': (_e, b, r) =>
    `Taking ${whose(str(b, 'user'))} access to ${r(b.resource)} away failed${attempt(b)}; Gatehouse will try again${detail(str(b, 'error'))}`,
  'grant.drift_revoked': (_e, b, r) => {
    const holder = str(b, 'user') ? ` from ${who(str(b, 'user'))}` : '';
    return `Gatehouse took away access to ${r(b.resource)}${holder} that no live grant covered.`;
  },
  'mfa.enrolment_started': (e, b) =>
    `${who(e.actor)} started ${b.re_enrolment === true ? 're-enrolling' : 'enrolling'} in step-up MFA.`,
  'mfa.enrolled': (e, b) => `${who(e.actor)} ${b.re_enrolment === true ? 're-enrolled' : 'enrolled'} in step-up MFA.`,
  'mfa.removed': (e) => `${who(e.actor)} turned off step-up MFA.`,
  'mfa.reset': (e, b) =>
    `${who(e.actor)} reset ${whose(e.subject ?? undefined)} step-up MFA${str(b, 'previous') ? ` (it was ${escapeText(str(b, 'previous')!)}${b.was_locked === true ? ', locked' : ''})` : ''}.`,
  'mfa.reset_refused': (e, b) =>
    `${who(e.actor)} tried to reset ${whose(e.subject ?? undefined)} MFA and was refused: ${code(str(b, 'reason'))}.`,
  'mfa.failed': (e, b) => {
    const failures = num(b, 'failures_in_window');
    return `${who(e.actor)} gave a ${escapeText(str(b, 'reason') ?? 'wrong')} MFA code${purpose(b)}${failures ? ` (${plural(failures, 'failure')} in 10 min)` : ''}.`;
  },
  'mfa.locked': (e, b) => {
    const failures = num(b, 'failures');
    const minutes = num(b, 'window_minutes');
    const after = failures && minutes ? ` after ${plural(failures, 'wrong code')} in ${minutes} min` : '';
    const till = when(b.locked_until);
    return `${whose(e.actor)} MFA is locked${till ? ` until ${till}` : ''}${after}.`;
  },
  'mfa.refused': (e, b) => {
    const till = when(b.locked_until);
    return `${who(e.actor)} sent an MFA code while locked${till ? ` (until ${till})` : ''}; it was not checked.`;
  },
  'gateway.session_started': (e, b, r) => {
    const as = str(b, 'role') ? ` as \`${userText(str(b, 'role')!, MAX_NAME)}\`` : '';
    const from = str(b, 'client_address') ? ` from ${userText(str(b, 'client_address')!, MAX_NAME)}` : '';
    return `${who(e.actor)} opened a database session on ${r(b.resource)}${as}${from}.`;
  },
  'gateway.statement': (e, b) => `${who(e.actor)} ran statement ${num(b, 'n') ?? '?'}:${sql(str(b, 'sql'))}`,
  'gateway.statement_done': (_e, b) => {
    const n = num(b, 'n') ?? '?';
    const ms = num(b, 'duration_ms');
    const took = ms === undefined ? '' : ` in ${ms < 1000 ? `${ms} ms` : durationWords(ms)}`;
    if (b.ok === true)
      return `Statement ${n} finished${str(b, 'tag') ? ` (${userText(str(b, 'tag')!, MAX_NAME)})` : ''}${took}.`;
    const error = b.error && typeof b.error === 'object' ? (b.error as Body) : {};
    return `Statement ${n} failed${took}${detail(str(error, 'message'))}`;
  },
  'gateway.statement_refused': (e, b, r) =>
    `The gateway refused statement ${num(b, 'n') ?? '?'} from ${who(e.actor)} on ${r(b.resource)} (${escapeText(str(b, 'rule') ?? 'refused')}):${sql(str(b, 'sql'))}`,
  'gateway.session_ended': (_e, b, r) => {
    const statements = num(b, 'statements');
    const refused = num(b, 'refused');
    const ms = num(b, 'duration_ms');
    const counts = [
      statements === undefined ? '' : plural(statements, 'statement'),
      refused ? `${refused} refused` : '',
      ms === undefined ? '' : `${durationWords(ms)} long`,
    ].filter(Boolean);
    // The sweep ends a lost replica's session with what was known when the replica was last seen.
    if (counts.length > 0 && str(b, 'reason') === 'replica_lost') counts.push('until its replica was last seen');
    return `A database session on ${r(b.resource)} ended: ${code(str(b, 'reason'))}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}.`;
  },
  'gateway.login_refused': (_e, b, r) =>
    `The gateway refused ${whose(str(b, 'user'))} login to ${r(b.resource)}: ${code(str(b, 'reason'))}.`,
  'gateway.end_requested': (e, b, r) =>
    `${who(e.actor)} ended ${whose(str(b, 'user'))} database session on ${r(b.resource)}.`,
  'alert.raised': (_e, b) => {
    const title = str(b, 'title')
      ? userText(str(b, 'title')!, MAX_DETAIL)
      : escapeText(str(b, 'detector') ?? 'an alert');
    const about = str(b, 'user') ? ` about ${who(str(b, 'user'))}` : '';
    return `Alert (${escapeText(str(b, 'severity') ?? 'unknown severity')})${about}: ${title}`;
  },
  'alert.acknowledged': (e, b) =>
    `${who(e.actor)} acknowledged the ${escapeText(str(b, 'detector') ?? '')} alert.`.replace('the  alert', 'an alert'),
  'alert.access_ended': (e, b) => {
    const grants = Array.isArray(b.grants) ? b.grants.length : 0;
    return `${who(e.actor)} ended the access an alert was about (${plural(grants, 'grant')}).`;
  },
  'alert.action_refused': (e, b) =>
    `${who(e.actor)} tried to ${b.action === 'end_access' ? 'end access from' : 'acknowledge'} an alert and was refused: ${code(str(b, 'reason'))}.`,
  'request.break_glass': (e, b, r) => {
    const ms = num(b, 'duration_ms');
    const by = when(b.ratify_by);
    return `🚨 ${who(e.actor)} broke the glass on ${r(b.resource)}${ms === undefined ? '' : ` for ${durationWords(ms)}`}, without approval${by ? `; revoked unless ratified by ${by}` : ''}${quoted(str(b, 'reason'))}`;
  },
  'breakglass.ratification_recorded': (e, b, r) =>
    `${who(e.actor)} ratified ${whose(str(b, 'user'))} break-glass access to ${r(b.resource)} (${num(b, 'given') ?? '?'} of ${num(b, 'required') ?? '?'}).`,
  'breakglass.ratified': (_e, b, r) => `${whose(str(b, 'user'))} break-glass access to ${r(b.resource)} is ratified.`,
  'breakglass.revoked_by_owner': (e, b, r) =>
    `${who(e.actor)} revoked ${whose(str(b, 'user'))} break-glass access to ${r(b.resource)}.`,
  'breakglass.unratified_revoked': (_e, b, r) =>
    `Gatehouse revoked ${whose(str(b, 'user'))} break-glass access to ${r(b.resource)}: not ratified in time (${num(b, 'given') ?? 0} of ${num(b, 'required') ?? '?'}).`,
  'breakglass.action_refused': (e, b, r) =>
    `${who(e.actor)} tried to ${b.action === 'revoke' ? 'revoke' : 'ratify'} break-glass access to ${r(b.resource)} and was refused: ${code(str(b, 'reason'))}.`,
  'review.opened': (_e, b, r) => {
    const people = Array.isArray(b.people) ? b.people.length : 0;
    return `Gatehouse opened an access review of ${r(b.resource)}: ${plural(people, 'person', 'people')} for its owners to keep or remove.`;
  },
  'review.decided': (e, b, r) =>
    `${who(e.actor)} decided to ${b.decision === 'remove' ? '*remove*' : 'keep'} ${who(str(b, 'person'))} on ${r(b.resource)} in an access review.`,
  'review.decision_refused': (e, b, r) =>
    `${who(e.actor)} tried to decide on ${who(str(b, 'person'))} in the access review of ${r(b.resource)} and was refused: ${code(str(b, 'reason'))}.`,
  'review.completed': (_e, b, r) => {
    const kept = Array.isArray(b.kept) ? b.kept.length : 0;
    const removed = Array.isArray(b.removed) ? b.removed.length : 0;
    return `The access review of ${r(b.resource)} is complete: ${kept} kept, ${removed} to remove.`;
  },
  'review.change_applied': (_e, b, r) =>
    `The loaded policy no longer lets ${who(str(b, 'person'))} request ${r(b.resource)}, as the access review decided.`,
  'contract.ending_noticed': (_e, b) => {
    const resources = Array.isArray(b.recurring) ? b.recurring.length : 0;
    const end = when(b.contract_ends_at);
    return `Gatehouse told the owners that ${whose(str(b, 'user'))} contract ends${end ? ` ${end}` : ''}, with access recurring on ${plural(resources, 'resource')}.`;
  },
  'audit.verified': (e, b) => {
    const checked = num(b, 'checked') ?? 0;
    const verdict =
      b.ok === true
        ? `whole, ${plural(checked, 'event')} checked`
        : `NOT whole${b.failure && typeof b.failure === 'object' && num(b.failure as Body, 'seq') !== undefined ? `, broken at seq ${num(b.failure as Body, 'seq')}` : ''}`;
    return `${who(e.actor)} verified the audit log: ${verdict}.`;
  },
  'audit.verify_refused': (e, b) =>
    `${who(e.actor)} tried to verify the audit log and was refused: ${code(str(b, 'reason'))}.`,
  'audit.receipt_sent': (e, b) =>
    `${who(e.actor)} took the receipt of ${code(str(b, 'grant'))}: ${plural(num(b, 'events') ?? 0, 'event')} proved in the tree of the first ${num(b, 'size') ?? '?'}.`,
  'audit.receipt_refused': (e, b) =>
    `${who(e.actor)} asked for the receipt of ${code(str(b, 'grant'))} and was refused: ${code(str(b, 'reason'))}.`,
  'policy.loaded': (_e, b) => {
    const count = Array.isArray(b.resources) ? ` (${plural(b.resources.length, 'resource')})` : '';
    const file = str(b, 'file') ? ` from ${userText(str(b, 'file')!, MAX_NAME)}` : '';
    return `Gatehouse loaded ${b.previous_sha256 ? 'a changed' : 'its first'} policy${file}${count}.`;
  },
};

function until(b: Body): string {
  const end = when(b.ends_at);
  return end ? ` until ${end}` : '';
}
function attempt(b: Body): string {
  const n = num(b, 'attempt');
  return n === undefined ? '' : ` (attempt ${n})`;
}
function tries(b: Body): string {
  const n = num(b, 'attempt');
  return n !== undefined && n > 1 ? ` after ${n} attempts` : '';
}
function purpose(b: Body): string {
  const p = str(b, 'purpose');
  return p ? ` (to ${escapeText(p.replace(/-/g, ' '))})` : '';
}

/** Any action this module does not know yet, or one whose sentence could not be made. */
function fallback(event: AuditEventSummary): string {
  const on = event.subject ? ` on \`${userText(event.subject, MAX_NAME)}\`` : '';
  return `${who(event.actor)} recorded *${userText(event.action, 100)}*${on}.`;
}

/** The event as one sentence of mrkdwn, user text escaped; a reason is never cut here. */
export function eventSentence(event: AuditEventSummary, names?: ResourceNames): string {
  const resource = (id: unknown): string => {
    if (typeof id !== 'string' || id === '') return 'a resource';
    const name = names?.(id);
    return name ? `*${userText(name, MAX_NAME)}*` : `\`${userText(id, MAX_NAME)}\``;
  };
  const sentence = Object.hasOwn(SENTENCES, event.action) ? SENTENCES[event.action] : undefined;
  if (!sentence) return fallback(event);
  try {
    const text = sentence(event, event.body ?? {}, resource);
    return /[.:!?”`]$/.test(text) ? text : `${text}.`;
  } catch {
    return fallback(event);
  }
}
