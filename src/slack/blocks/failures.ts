/** The words a person sees when Gatehouse could not finish what they asked (src/slack/inbound/answer-failures.ts). */
import type { HomeView } from '@slack/types';
import { VIEW } from './ids.ts';
import { section, type Message } from './kit.ts';
import { escapeText, truncate } from './text.ts';

/**
 * What failed: the database (so the transaction did not commit), Slack (it refused or did
 * not answer a call, with its error code), or something else, whose effect is unknown.
 */
export type Failure = { kind: 'database' } | { kind: 'slack'; error: string } | { kind: 'other' };

export function failureText(failure: Failure): string {
  switch (failure.kind) {
    case 'database':
      return '⚠️ Nothing was recorded: Gatehouse could not reach its database. Try again in a minute.';
    case 'slack':
      return `⚠️ Slack did not take what Gatehouse tried to show you (it said \`${escapeText(truncate(failure.error, 100))}\`). Try again in a minute; \`/access\` shows where your requests and grants stand.`;
    case 'other':
      return '⚠️ Gatehouse failed while doing that, and it may not have gone through: `/access` shows where your requests and grants stand. Try again in a minute; if it keeps failing, tell whoever runs Gatehouse.';
  }
}

/** An ephemeral answer, or a direct message where there is nothing to answer under. */
export function failureMessage(failure: Failure): Message {
  const text = failureText(failure);
  return { text, blocks: [section(text)] };
}

const HOME_CAUSE: Record<Failure['kind'], string> = {
  database: 'it could not reach its database',
  slack: 'Slack refused part of it',
  other: 'something in Gatehouse failed',
};

/** The Home tab, when it could not be drawn; opening it again redraws it. */
export function failureHome(failure: Failure): HomeView {
  return {
    type: 'home',
    callback_id: VIEW.home,
    blocks: [
      section(
        `⚠️ Gatehouse could not show your requests and grants here just now: ${HOME_CAUSE[failure.kind]}. Open this tab again in a minute.`,
      ),
    ],
  };
}
