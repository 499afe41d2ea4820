/** Alerts from the watcher: the message posted to the alert channel and each responder, and the answers to its buttons. */
import type { AlertRow } from '../../access/alerts.ts';
import type { AlertSeverity } from '../../db/schema.ts';
import { ACTION, BLOCK } from './ids.ts';
import { actions, button, capped, context, section, type Message } from './kit.ts';
import { GLYPH, escapeText, formatWhen, mention, plural, resourceLabel, truncate, userText } from './text.ts';

/** Where the audit feed posted a message: an alert links its evidence there. */
export interface ChannelPost {
  channel: string;
  ts: string;
}

/** One event an alert was raised from, and the audit channel's message that shows it when known. */
export interface Evidence {
  seq: number;
  post: ChannelPost | null;
}

/** An alert as people see it: its row, its resource as the policy names it, and its evidence. */
export interface ShownAlert {
  alert: AlertRow;
  resource: { id: string; name: string } | null;
  evidence: readonly Evidence[];
}

const SEVERITY: Record<AlertSeverity, { glyph: string; word: string }> = {
  critical: { glyph: '🚨', word: 'Critical' },
  high: { glyph: '⚠️', word: 'High' },
  warning: { glyph: '⚠️', word: 'Warning' },
  info: { glyph: 'ℹ️', word: 'Info' },
};

/** Evidence seqs listed before "and N more"; all of them are in the log. */
export const MAX_EVIDENCE_SHOWN = 20;

/** Slack's own link to a message, which opens it in any workspace the reader is in. */
export function messageLink(post: ChannelPost): string {
  return `https://slack.com/archives/${post.channel}/p${post.ts.replace('.', '')}`;
}

const code = (text: string) => `\`${userText(text, 100)}\``;

function evidenceLine({ alert, evidence }: ShownAlert): string[] {
  if (evidence.length === 0) return [];
  const list = capped(evidence, MAX_EVIDENCE_SHOWN);
  const seqs = list.shown.map(({ seq, post }) => (post ? `<${messageLink(post)}|#${seq}>` : `\`#${seq}\``));
  const more = list.more > 0 ? ` and ${list.more} more` : '';
  const lines = [`*Evidence:* ${plural(evidence.length, 'audit event')}: ${seqs.join(', ')}${more}`];
  // Events the channel does not show yet (or a post not on record) are read from the log itself.
  if (alert.session_id)
    lines.push(
      `The session's statements, from the verified log: ${code(`gatehouse audit session ${alert.session_id}`)}`,
    );
  else if (evidence.some((e) => !e.post))
    lines.push(`Not in the audit channel yet: check the log with \`gatehouse audit verify\``);
  return lines;
}

/** Who and what an alert is about: the person, the resource, or only its subject. */
function aboutLine({ alert, resource }: ShownAlert): string {
  const parts = [
    alert.user_id ? mention(alert.user_id) : '',
    resource ? `${alert.user_id ? 'on ' : ''}${resourceLabel(resource)}` : '',
  ].filter(Boolean);
  return `*About:* ${parts.length > 0 ? parts.join(' ') : code(alert.subject)}`;
}

/** What people did about it: who acknowledged it and who ended the access, with when. */
function stateLines(alert: AlertRow): string[] {
  const lines: string[] = [];
  if (alert.acknowledged_at)
    lines.push(
      `${GLYPH.approved} Acknowledged by ${mention(alert.acknowledged_by ?? 'someone')} at ${formatWhen(alert.acknowledged_at)}`,
    );
  if (alert.access_ended_at)
    lines.push(
      `${GLYPH.ended} Access ended by ${mention(alert.access_ended_by ?? 'someone')} at ${formatWhen(alert.access_ended_at)}`,
    );
  return lines;
}

/**
 * Whether End access now can do anything: not on an info note, nor once access was ended,
 * nor where the alert ends nothing (it is about an approver, or the access is on its way
 * out already); as the access rules decide, a grant it names or the live access of its person.
 */
function mayEndAccess(alert: AlertRow): boolean {
  if (alert.severity === 'info' || alert.access_ended_at) return false;
  return alert.ends === 'grant' ? Boolean(alert.grant_id) : alert.ends === 'person' && Boolean(alert.user_id);
}

/** The confirmation's question: what exactly ends. */
function endQuestion({ alert, resource }: ShownAlert): string {
  if (alert.ends === 'person')
    return (
      `End all of this person's access${resource ? ` to ${resource.name}` : ''} now? Their grants end at once and their open database sessions are closed. ` +
      'They must ask again to get it back.'
    );
  const what = resource ? `this access to ${resource.name}` : 'the access this alert is about';
  return `End ${what} now? Its grant ends at once and its open database sessions are closed. The holder must ask again to get it back.`;
}

function alertButtons(shown: ShownAlert): Message['blocks'] {
  const { alert } = shown;
  const buttons = [];
  if (mayEndAccess(alert)) {
    buttons.push(
      button({
        text: 'End access now',
        actionId: ACTION.endAlertAccess,
        value: alert.id,
        style: 'danger',
        confirm: {
          title: 'End this access now?',
          text: endQuestion(shown),
          confirm: 'End access',
          deny: 'Keep it',
        },
      }),
    );
  }
  if (!alert.acknowledged_at)
    buttons.push(button({ text: 'Acknowledge', actionId: ACTION.acknowledgeAlert, value: alert.id }));
  return buttons.length > 0 ? [actions(BLOCK.alertActions, ...buttons)] : [];
}

/**
 * An alert as posted to the alert channel and to each responder, and as every copy is
 * updated: what happened at a glance, who and what it is about, the events that show it,
 * what was done about it, and the buttons still to press.
 */
export function alertMessage(shown: ShownAlert): Message {
  const { alert } = shown;
  const { glyph, word } = SEVERITY[alert.severity];
  const title = userText(alert.title, 300);
  const state = stateLines(alert);
  const ids = [
    `Alert ${code(alert.id)}`,
    code(alert.detector),
    ...(alert.grant_id ? [`grant ${code(alert.grant_id)}`] : []),
    ...(alert.session_id ? [`session ${code(alert.session_id)}`] : []),
  ];
  const blocks: Message['blocks'] = [
    section(`${glyph} *${word}: ${title}*\n${userText(alert.detail, 2500)}`),
    section([aboutLine(shown), `*Raised:* ${formatWhen(alert.raised_at)}`, ...evidenceLine(shown)].join('\n')),
    ...(state.length > 0 ? [section(state.join('\n'))] : []),
    ...alertButtons(shown),
    context(ids.join(' · ')),
  ];
  const done = state.length > 0 ? ` (${state.join('; ')})` : '';
  return { text: truncate(`${glyph} ${word}: ${title}${done}`), blocks };
}

/** The answer to Acknowledge; every copy of the alert then shows who and when. */
export function alertAcknowledgedAnswer(): Message {
  const text = `${GLYPH.approved} Acknowledged.`;
  return { text, blocks: [section(text)] };
}

/** The answer to End access now: how many grants of what ended. */
export function alertAccessEndedAnswer(ended: readonly { resourceName: string }[]): Message {
  if (ended.length === 0) {
    // Another click or the sweep moved them first: they are on their way out already.
    const text = `${GLYPH.pending} The access this alert is about is already being taken away.`;
    return { text, blocks: [section(text)] };
  }
  const names = [...new Set(ended.map((g) => g.resourceName))].map((name) => escapeText(truncate(name, 150)));
  const where = names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  const sessions = ended.length === 1 ? 'Its sessions are' : 'Their sessions are';
  const text = `${GLYPH.ended} Access ended: ${plural(ended.length, 'grant')} of ${where}. ${sessions} being closed.`;
  return { text: truncate(text), blocks: [section(text)] };
}
