import type { WebClient } from '@slack/web-api';
import { sql } from 'kysely';
import type { EnrolmentMessage, Notification } from '../access/notifications.ts';
import type { AccessService } from '../access/service.ts';
import type { AccessRequest } from '../access/types.ts';
import { checkpointById } from '../audit/checkpoint-store.ts';
import type { ChainedCue } from '../audit/sequencer.ts';
import { resourceById, type LoadedPolicy } from '../config/policy.ts';
import type { Db } from '../db/database.ts';
import type { Selectable } from 'kysely';
import type { OutboxTable } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { otpauthUri, qrPng } from '../mfa/totp.ts';
import * as ui from './blocks/index.ts';
import { checkpointMetadata } from './channel-anchors.ts';
import { homeView } from './home.ts';
import { describeSlackError, retryDelayMs } from './slack-errors.ts';

type OutboxRow = Selectable<OutboxTable>;

/** How long a claimed notification is leased before another replica may try it. */
const LEASE = sql<Date>`now() + interval '2 minutes'`;

/**
 * Delivers the outbox: every notification the access rules wrote with a change becomes
 * Slack messages, rendered from the state at the time of sending. Rows are claimed with
 * SKIP LOCKED, so replicas share the work; a failed delivery is retried with backoff (or
 * after Slack's Retry-After) until Slack has it. Steps that could repeat on a retry are
 * made safe: cards already posted are recorded and not posted again, and card updates
 * simply set the card to the current state.
 */
export class Notifier {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private readonly dmChannels = new Map<string, string>();
  private readonly wake = () => this.schedule(0);

  constructor(
    private readonly db: Db,
    private readonly client: WebClient,
    private readonly access: AccessService,
    private readonly policy: () => LoadedPolicy,
    private readonly cue: ChainedCue,
    private readonly log: Logger,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    this.stopped = false;
    // Every change that notifies also records an audit event, so a chained batch is the cue.
    this.cue.on('chained', this.wake);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cue.off('chained', this.wake);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Claims and delivers the notifications that are due; returns how many were delivered. */
  async deliverDue(limit = 20): Promise<number> {
    const claimed = await sql<OutboxRow>`
      update outbox set attempts = attempts + 1, next_attempt_at = ${LEASE}
      where id in (
        select id from outbox where done_at is null and next_attempt_at <= now()
        order by id limit ${limit} for update skip locked)
      returning *`.execute(this.db);
    const rows = claimed.rows.sort((a, b) => a.id - b.id);
    let delivered = 0;
    const homes = new Set<string>();
    for (const row of rows) {
      const notification = { kind: row.kind, ...row.payload } as Notification;
      // Home tabs are refreshed once per batch, however many changes touched them (refreshHome).
      if (notification.kind === 'home.refresh') {
        homes.add(notification.userId);
        continue;
      }
      try {
        await this.deliver(notification);
        await this.db.updateTable('outbox').set({ done_at: sql<Date>`now()`, last_error: null }).where('id', '=', row.id).execute();
        delivered += 1;
      } catch (err) {
        await this.postpone([row.id], row.attempts, err, { notification: row.kind, outboxId: row.id });
      }
    }
    for (const userId of homes) delivered += await this.refreshHome(userId);
    return delivered;
  }

  /**
   * Publishes one App Home, covering every queued refresh of it: those rows are leased
   * first (they committed before the render that follows, so it shows their changes),
   * then marked done once Slack has the view. A busy owner's home is published once per
   * batch, not once per change. If Slack refuses, they wait and are tried again.
   */
  private async refreshHome(userId: string): Promise<number> {
    const merged = await sql<{ id: number; attempts: number }>`
      update outbox set attempts = attempts + 1, next_attempt_at = ${LEASE}
      where id in (
        select id from outbox
        where kind = 'home.refresh' and done_at is null and payload ->> 'userId' = ${userId}
        for update skip locked)
      returning id, attempts`.execute(this.db);
    const ids = merged.rows.map((row) => row.id);
    try {
      await this.publishHome(userId);
    } catch (err) {
      await this.postpone(ids, Math.max(1, ...merged.rows.map((row) => row.attempts)), err, { notification: 'home.refresh', userId });
      return 0;
    }
    if (ids.length === 0) return 0;
    await this.db.updateTable('outbox').set({ done_at: sql<Date>`now()`, last_error: null }).where('id', 'in', ids).execute();
    return ids.length;
  }

  /** Outbox rows Slack did not take: logged, and tried again after Slack's Retry-After or with backoff. */
  private async postpone(ids: number[], attempts: number, err: unknown, about: Record<string, unknown>): Promise<void> {
    const delay = retryDelayMs(err, attempts);
    this.log.warn({ err: describeSlackError(err), ...about, attempt: attempts, retryInMs: delay }, 'notification not delivered; will retry');
    if (ids.length === 0) return;
    await this.db
      .updateTable('outbox')
      .set({ next_attempt_at: new Date(Date.now() + delay), last_error: describeSlackError(err).slice(0, 500) })
      .where('id', 'in', ids)
      .execute();
  }

  /** Delivers what is due, batch after batch, until nothing is left or `ms` have passed: for shutdown. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if ((await this.deliverDue()) === 0) return;
    }
  }

  private async deliver(n: Notification): Promise<void> {
    switch (n.kind) {
      case 'request.submitted':
        return this.requestSubmitted(n.requestId);
      case 'request.progress':
        return this.updateCards(await this.mustRequest(n.requestId));
      case 'request.decided':
        return this.requestDecided(n.requestId);
      case 'request.reminder':
        return this.remindOwners(n.requestId);
      case 'grant.active':
      case 'grant.expiring':
      case 'grant.ended':
      case 'grant.failing': {
        const grant = await this.access.findGrant(n.grantId);
        if (!grant) return;
        // Credentials made for the grant (a database login) are sent once, then forgotten.
        const credentials = n.kind === 'grant.active' ? await this.deliverySecret(grant.id) : null;
        const message =
          n.kind === 'grant.active'
            ? ui.accessActiveDM(grant, credentials ?? undefined)
            : n.kind === 'grant.expiring'
              ? ui.expiringSoonDM(grant, Math.max(0, (grant.endsAt.getTime() - Date.now()) / 60_000))
              : n.kind === 'grant.ended'
                ? ui.grantEndedDM(grant)
                : ui.provisioningFailingDM(grant);
        await this.dm(grant.userId, message);
        if (credentials) await this.db.updateTable('grants').set({ delivery_secret: null }).where('id', '=', grant.id).execute();
        return;
      }
      case 'home.refresh':
        return this.publishHome(n.userId);
      case 'checkpoint.publish':
        return this.publishCheckpoint(n.checkpointId);
      case 'grant.revoke_alert':
        return this.alertRevokeFailing(n.grantId);
      case 'mfa.enrolment':
        return this.sendEnrolment(n.userId);
      case 'mfa.enrolled':
        await this.deleteEnrolmentMessage(await this.access.mfa.confirmedEnrolmentMessage(n.userId));
        await this.access.mfa.forgetEnrolmentMessage(n.userId);
        return this.dm(n.userId, ui.mfaEnrolledDM(n.reEnrolment === true));
      case 'mfa.changed':
        await this.deleteEnrolmentMessage(n.leftover);
        return this.dm(n.userId, ui.mfaChangedDM(n.change, n.by));
      case 'mfa.locked': {
        const until = new Date(n.until);
        await this.postToAuditChannel(ui.mfaLockedAlert(n.userId, until));
        return this.dm(n.userId, ui.mfaLockedDM(until));
      }
      default: {
        // A kind this version does not know (a newer replica wrote it): leave it for one that does.
        const unknown: never = n;
        throw new Error(`unknown notification kind ${(unknown as { kind: string }).kind}`);
      }
    }
  }

  private async requestSubmitted(requestId: string): Promise<void> {
    const request = await this.mustRequest(requestId);
    if (request.status !== 'pending') return this.updateCards(request);
    const resource = resourceById(this.policy().policy, request.resourceId);
    const owners = (resource?.owners ?? []).filter((owner) => owner !== request.requester);
    const posted = await this.db.selectFrom('approval_cards').select(['owner', 'channel']).where('request_id', '=', requestId).execute();
    const card = ui.approvalCard(request, { viewerIsApprover: true });
    if (resource?.approvalChannel) {
      if (!posted.some((p) => p.channel === resource.approvalChannel)) await this.postCard(request, resource.approvalChannel, null, card);
    } else {
      for (const owner of owners) {
        if (posted.some((p) => p.owner === owner)) continue;
        await this.postCard(request, await this.dmChannel(owner), owner, card);
      }
    }
    await this.dm(request.requester, ui.sentToApprovers(request, owners.length));
  }

  private async postCard(request: AccessRequest, channel: string, owner: string | null, card: ui.Message): Promise<void> {
    const result = await this.client.chat.postMessage({ channel, text: card.text, blocks: card.blocks });
    await this.db
      .insertInto('approval_cards')
      .values({ request_id: request.id, channel: result.channel ?? channel, ts: result.ts!, owner })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  /** Sets every owner's card to the request's current state: who decided, when. */
  private async updateCards(request: AccessRequest): Promise<void> {
    const cards = await this.db.selectFrom('approval_cards').select(['channel', 'ts']).where('request_id', '=', request.id).execute();
    const card = ui.approvalCard(request, { viewerIsApprover: true });
    for (const { channel, ts } of cards) await this.client.chat.update({ channel, ts, text: card.text, blocks: card.blocks });
  }

  private async requestDecided(requestId: string): Promise<void> {
    const request = await this.mustRequest(requestId);
    await this.updateCards(request);
    if (request.status === 'approved') {
      const grant = (await this.access.holdingsOf(request.requester)).grants.find((g) => g.requestId === request.id);
      const held = grant ?? (await this.grantOf(request.id));
      if (held) await this.dm(request.requester, ui.approvedDM(request, held));
    } else if (request.status === 'denied') {
      await this.dm(request.requester, ui.deniedDM(request));
    } else if (request.status === 'expired') {
      await this.dm(request.requester, ui.requestExpiredDM(request));
    }
  }

  /** Each owner who has not approved yet hears again, by DM. */
  private async remindOwners(requestId: string): Promise<void> {
    const request = await this.mustRequest(requestId);
    if (request.status !== 'pending') return;
    const owners = resourceById(this.policy().policy, request.resourceId)?.owners ?? [];
    const approved = new Set(request.approvals.map((a) => a.approver));
    for (const owner of owners) {
      if (owner === request.requester || approved.has(owner)) continue;
      await this.dm(owner, ui.ownerReminderDM(request));
    }
  }

  private async grantOf(requestId: string) {
    const row = await this.db.selectFrom('grants').select('id').where('request_id', '=', requestId).executeTakeFirst();
    return row ? this.access.findGrant(row.id) : null;
  }

  private async publishHome(userId: string): Promise<void> {
    await this.client.views.publish({ user_id: userId, view: await homeView(this.access, userId) });
  }

  /** The sealed credentials waiting for this grant's holder, opened; null when there are none. */
  private async deliverySecret(grantId: string): Promise<Record<string, string> | null> {
    const row = await this.db.selectFrom('grants').select('delivery_secret').where('id', '=', grantId).executeTakeFirst();
    if (!row?.delivery_secret) return null;
    const box = this.access.ctx.secrets;
    if (!box) throw new Error('credentials wait for this grant, but GATEHOUSE_SECRETS_KEY is not set to open them');
    return JSON.parse(box.open(row.delivery_secret, grantId)) as Record<string, string>;
  }

  /** Posts a signed checkpoint to the audit channel, where it can be read back as an anchor. */
  private async publishCheckpoint(id: number): Promise<void> {
    const checkpoint = await checkpointById(this.db, id);
    if (!checkpoint) throw new Error(`checkpoint #${id} not found`);
    const message = ui.checkpointMessage(checkpoint);
    await this.client.chat.postMessage({
      channel: this.policy().policy.auditChannel,
      text: message.text,
      blocks: message.blocks,
      metadata: checkpointMetadata(checkpoint),
    });
  }

  private async postToAuditChannel(message: ui.Message): Promise<void> {
    await this.client.chat.postMessage({ channel: this.policy().policy.auditChannel, text: message.text, blocks: message.blocks });
  }

  /** A revocation still failing after several attempts: the audit channel and every owner hear of it. */
  private async alertRevokeFailing(grantId: string): Promise<void> {
    const grant = await this.access.findGrant(grantId);
    // Taken away meanwhile: nothing to alert about any more.
    if (!grant || grant.status !== 'revoke_failed') return;
    const owners = resourceById(this.policy().policy, grant.resourceId)?.owners ?? [];
    const alert = ui.revokeFailingAlert(grant, owners);
    await this.postToAuditChannel(alert);
    for (const owner of owners) await this.dm(owner, alert);
  }

  /**
   * The QR code of an enrolment, uploaded to the person's direct message, then the link,
   * the key for typing in by hand and the button that confirms. Rendered from the sealed
   * secret now: an enrolment confirmed or replaced meanwhile sends nothing (or the newest).
   * Where it went is remembered at once, so a retry or the confirmation deletes it.
   */
  private async sendEnrolment(userId: string): Promise<void> {
    const pending = await this.access.mfa.pendingEnrolment(userId);
    if (!pending) return;
    await this.deleteEnrolmentMessage(pending.leftover);
    const channel = await this.dmChannel(userId);
    const uri = otpauthUri(pending.secret, await this.displayName(userId));
    const uploaded = (await this.client.filesUploadV2({
      channel_id: channel,
      file: await qrPng(uri),
      filename: 'gatehouse-mfa.png',
      title: 'Gatehouse MFA QR code',
      alt_text: 'QR code that adds Gatehouse to an authenticator app',
      initial_comment: ui.mfaQrComment(pending.reEnrolment),
    })) as { files?: { files?: { id?: string }[] }[] };
    const file = uploaded.files?.[0]?.files?.[0]?.id;
    await this.access.mfa.rememberEnrolmentMessage(userId, { channel, ...(file ? { file } : {}) });
    const message = ui.mfaEnrolmentDM(uri, pending.secret, pending.reEnrolment);
    const posted = await this.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
    await this.access.mfa.rememberEnrolmentMessage(userId, { channel, ...(posted.ts ? { ts: posted.ts } : {}), ...(file ? { file } : {}) });
  }

  /** The label an authenticator app shows: the person's name when Slack gives it, else their id. */
  private async displayName(userId: string): Promise<string> {
    try {
      const info = await this.client.users.info({ user: userId });
      return info.user?.profile?.display_name || info.user?.real_name || info.user?.name || userId;
    } catch (err) {
      this.log.warn({ err: describeSlackError(err), userId }, 'could not read a name for the MFA label; using the user id');
      return userId;
    }
  }

  /** Deletes an enrolment's QR code and message; already gone is fine (a retry, or the person deleted it). */
  private async deleteEnrolmentMessage(message: EnrolmentMessage | undefined): Promise<void> {
    if (!message) return;
    const gone = new Set(['file_not_found', 'file_deleted', 'message_not_found', 'cant_delete_message']);
    const ignoreGone = (err: unknown) => {
      const code = (err as { data?: { error?: string } }).data?.error;
      if (!code || !gone.has(code)) throw err;
    };
    if (message.file) await this.client.files.delete({ file: message.file }).catch(ignoreGone);
    if (message.ts) await this.client.chat.delete({ channel: message.channel, ts: message.ts }).catch(ignoreGone);
  }

  private async mustRequest(id: string): Promise<AccessRequest> {
    const request = await this.access.findRequest(id);
    if (!request) throw new Error(`request ${id} not found`);
    return request;
  }

  private async dm(userId: string, message: ui.Message): Promise<void> {
    await this.client.chat.postMessage({ channel: await this.dmChannel(userId), text: message.text, blocks: message.blocks });
  }

  private async dmChannel(userId: string): Promise<string> {
    const known = this.dmChannels.get(userId);
    if (known) return known;
    const opened = await this.client.conversations.open({ users: userId });
    const id = opened.channel?.id;
    if (!id) throw new Error(`Slack opened no direct message with ${userId}`);
    this.dmChannels.set(userId, id);
    return id;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.again = false;
      this.running = this.deliverDue()
        .then(
          (delivered) => (delivered > 0 || this.again ? 0 : this.pollMs),
          (err: unknown) => {
            this.log.error({ err }, 'outbox delivery failed');
            return this.pollMs;
          },
        )
        .then((next) => {
          this.running = null;
          this.schedule(next);
        });
    }, delayMs);
  }
}
