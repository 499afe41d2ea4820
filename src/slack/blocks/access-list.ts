/** The ephemeral answers to `/access` and `/access help`. */
import type { AccessRequest, Grant } from '../../access/types.ts';
import { capped, context, section, moreLine, type Message } from './kit.ts';
import { grantItem, isLive, isPending, requestItem } from './items.ts';
import { plural } from './text.ts';

/** Per list, so that both lists together stay well inside a message's 50 blocks. */
const MAX_ITEMS = 20;
const SEE_HOME = 'Open Gatehouse in the sidebar (App Home) to see everything.';

const HOW_TO_ASK =
  'Ask with `/request-access &lt;resource&gt; [duration] [reason…]`, e.g. `/request-access prod-db 2h fix invoice export`, ' +
  'or just `/request-access` for a form. `/access help` explains every command.';

export interface AccessListInput {
  grants: Grant[];
  requests: AccessRequest[];
  now: Date;
}

export function accessList({ grants, requests, now }: AccessListInput): Message {
  const live = grants.filter(isLive).sort((a, b) => a.endsAt.getTime() - b.endsAt.getTime());
  const pending = requests.filter(isPending).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  if (live.length === 0 && pending.length === 0) {
    const text = `You hold no access and have no pending requests. ${HOW_TO_ASK}`;
    return { text, blocks: [section(text)] };
  }
  const blocks: Message['blocks'] = [];
  if (live.length > 0) {
    const { shown, more } = capped(live, MAX_ITEMS);
    blocks.push(section('*Your access*'), ...shown.map((grant) => grantItem(grant, now)), ...moreLine(more, SEE_HOME));
  }
  if (pending.length > 0) {
    const { shown, more } = capped(pending, MAX_ITEMS);
    blocks.push(section('*Your pending requests*'), ...shown.map(requestItem), ...moreLine(more, SEE_HOME));
  }
  blocks.push(context(HOW_TO_ASK));
  const text = `You hold ${plural(live.length, 'grant')} and have ${plural(pending.length, 'pending request')}.`;
  return { text, blocks };
}

const HELP = [
  '*Gatehouse* gives you access to a resource for a limited time, once its owners approve.',
  '`/request-access &lt;resource&gt; [duration] [reason…]`: ask for access. The owners get Approve and Deny buttons; you get a message at each step. ' +
    "The duration is like `30m`, `4h` or `1h30m`; leave it out for the resource's default. Leave anything out and a form opens instead, filled with what you typed.\n" +
    'For example: `/request-access prod-db 2h fix invoice export`, or `/request-access staging` for the form.',
  "`/access`: what you hold (with time left and an *I'm done* button) and what you are waiting for (with *Cancel*).",
  '`/access help`: this help.',
  '`/access mfa`: set up MFA (a QR code for your authenticator app), or see it, move it to a new phone or turn it off. ' +
    'Resources marked for MFA ask for a current code when you request them or approve them. ' +
    'MFA admins reset a lost phone with `/access mfa reset @person`.',
  '`/verify-audit`: for auditors, checks that the audit log is complete and unaltered, and posts the result.',
  '*Extend* (on the message saying your access is active, and on the reminder before it ends) asks the owners for more time; once they approve, the same access lasts longer.',
];

export function accessHelp(): Message {
  return {
    text: 'Gatehouse commands: /request-access, /access, /access help, /access mfa, /verify-audit',
    blocks: HELP.map((paragraph) => section(paragraph)),
  };
}
