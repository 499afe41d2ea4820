/**
 * The direct messages that show a person where their request or grant stands (request
 * sent, approved, access active, its login, ending soon, failing). Each is recorded when it
 * is sent, and set to the state of now whenever that state changes: a message never keeps
 * a Cancel for a request that was decided, nor an Extend for access that ended. A click on
 * one that was not updated yet is answered from the state, and updates it.
 */
import type { WebClient } from '@slack/web-api';
import type { AccessService } from '../access/service.ts';
import type { GrantId, RequestId, SlackUserId } from '../access/ids.ts';
import type { Db } from '../db/database.ts';
import type { PersonMessageKind, PersonMessageTable } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { Selectable } from 'kysely';
import * as ui from './blocks/index.ts';
import { describeSlackError, MESSAGE_GONE } from './slack-errors.ts';

export type PersonMessageRow = Selectable<PersonMessageTable>;

/** What a tracked message is about. */
export interface MessageSubject {
  requestId?: RequestId | null;
  grantId?: GrantId | null;
}

/** Kinds sent once per request or grant: a retried delivery finds the one it sent and sends no second. */
const ONCE: ReadonlySet<PersonMessageKind> = new Set(['request', 'approved', 'grant', 'credentials']);

/**
 * Whether a message of `kind` about `subject` was already sent (an earlier try of the same
 * delivery that got as far as Slack): then it is not sent again.
 */
export async function alreadySent(db: Db, kind: PersonMessageKind, subject: MessageSubject): Promise<boolean> {
  if (!ONCE.has(kind)) return false;
  const row = await db
    .selectFrom('person_messages')
    .select('ts')
    .where('kind', '=', kind)
    .$if(Boolean(subject.requestId), (qb) => qb.where('request_id', '=', subject.requestId!))
    .$if(Boolean(subject.grantId), (qb) => qb.where('grant_id', '=', subject.grantId!))
    .executeTakeFirst();
  return row !== undefined;
}

/** Records a message just sent, so that every later change updates it. */
export async function recordSent(
  db: Db,
  posted: { channel: string; ts: string },
  userId: SlackUserId,
  kind: PersonMessageKind,
  subject: MessageSubject,
): Promise<PersonMessageRow> {
  const row = await db
    .insertInto('person_messages')
    .values({
      channel: posted.channel,
      ts: posted.ts,
      user_id: userId,
      kind,
      request_id: subject.requestId ?? null,
      grant_id: subject.grantId ?? null,
    })
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
  return (
    row ??
    (await db
      .selectFrom('person_messages')
      .selectAll()
      .where('channel', '=', posted.channel)
      .where('ts', '=', posted.ts)
      .executeTakeFirstOrThrow())
  );
}

/**
 * The message as it should read now; null where it must stay as it is (a login's message
 * while the login works: its credentials are not kept to be shown again).
 */
export async function renderPersonMessage(
  access: AccessService,
  row: Pick<PersonMessageRow, 'kind' | 'request_id' | 'grant_id'>,
  now: Date,
): Promise<ui.Message | null> {
  if (row.kind === 'request' || row.kind === 'approved') {
    const request = row.request_id ? await access.findRequest(row.request_id) : null;
    if (!request) return null;
    const grant = request.status === 'approved' ? await access.grantOfRequest(request) : null;
    if (row.kind === 'approved') return grant ? ui.approvedDM(request, grant) : null;
    return ui.requestSentDM(request, access.approversOf(request).length, grant);
  }
  const grant = row.grant_id ? await access.findGrant(row.grant_id) : null;
  if (!grant) return null;
  const pendingExtension = grant.status === 'active' ? await access.pendingExtensionOf(grant.id) : null;
  switch (row.kind) {
    case 'grant':
      return ui.accessActiveDM(grant, { pendingExtension });
    case 'credentials':
      return grant.status === 'active' || grant.status === 'provisioning' || grant.status === 'provision_failed'
        ? null
        : ui.loginDM(grant, null);
    case 'expiring':
      return ui.expiringSoonDM(grant, Math.max(0, (grant.endsAt.getTime() - now.getTime()) / 60_000), {
        pendingExtension,
      });
    case 'failing':
      return ui.provisioningFailingDM(grant);
  }
}

/**
 * Every tracked message about a request or grant and those tied to it: a grant's own, the
 * request it came from, and the extensions asked for it.
 */
export async function messagesAbout(db: Db, subject: MessageSubject): Promise<PersonMessageRow[]> {
  let grantId = subject.grantId ?? null;
  if (!grantId && subject.requestId) {
    const request = await db
      .selectFrom('access_requests')
      .leftJoin('grants', 'grants.request_id', 'access_requests.id')
      .select(['access_requests.extends_grant_id', 'grants.id as grant_id'])
      .where('access_requests.id', '=', subject.requestId)
      .executeTakeFirst();
    grantId = request?.extends_grant_id ?? request?.grant_id ?? null;
  }
  const requestId = subject.requestId ?? null;
  return db
    .selectFrom('person_messages')
    .selectAll()
    .where((eb) =>
      eb.or([
        ...(requestId ? [eb('request_id', '=', requestId)] : []),
        ...(grantId
          ? [
              eb('grant_id', '=', grantId),
              eb(
                'request_id',
                'in',
                eb
                  .selectFrom('access_requests')
                  .select('id')
                  .where((inner) =>
                    inner.or([
                      inner('extends_grant_id', '=', grantId),
                      inner('id', '=', inner.selectFrom('grants').select('request_id').where('id', '=', grantId)),
                    ]),
                  ),
              ),
            ]
          : []),
      ]),
    )
    .orderBy('created_at')
    .execute();
}

export interface Updater {
  client: WebClient;
  access: AccessService;
  db: Db;
  log: Logger;
  now: () => Date;
}

/**
 * Sets each message to what it should read now. One that was deleted is forgotten, never
 * retried. `shown`: what the messages show already, when known; they are left alone if it is
 * still what they should read.
 */
export async function updateMessages(
  parts: Updater,
  rows: readonly PersonMessageRow[],
  shown?: ui.Message,
): Promise<void> {
  for (const row of rows) {
    const message = await renderPersonMessage(parts.access, row, parts.now());
    if (!message) continue;
    if (shown && JSON.stringify(message.blocks) === JSON.stringify(shown.blocks)) continue;
    try {
      await parts.client.chat.update({ channel: row.channel, ts: row.ts, text: message.text, blocks: message.blocks });
    } catch (err) {
      if (!MESSAGE_GONE.has(describeSlackError(err))) throw err;
      parts.log.warn({ err: describeSlackError(err), kind: row.kind }, 'a message to a person is gone; forgotten');
      await parts.db
        .deleteFrom('person_messages')
        .where('channel', '=', row.channel)
        .where('ts', '=', row.ts)
        .execute();
    }
  }
}

/** The messages about a request or grant, set to the state of now (after each change of it). */
export async function refreshMessagesAbout(parts: Updater, subject: MessageSubject): Promise<void> {
  await updateMessages(parts, await messagesAbout(parts.db, subject));
}

/** A button pressed on a message that may be behind: if it is one of these, it is set to the state of now. */
export async function refreshClicked(
  parts: Updater,
  channel: string | undefined,
  ts: string | undefined,
): Promise<void> {
  if (!channel || !ts) return;
  const row = await parts.db
    .selectFrom('person_messages')
    .selectAll()
    .where('channel', '=', channel)
    .where('ts', '=', ts)
    .executeTakeFirst();
  if (row) await updateMessages(parts, [row]);
}
