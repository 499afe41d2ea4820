/**
 * Step-up MFA's rules: enrolment, removal, an admin's reset, and the code checks that
 * requests and approvals call (the TOTP mechanics are in mfa/). Secrets are sealed with
 * GATEHOUSE_SECRETS_KEY and bound to their user; a code is accepted once per time step;
 * wrong codes lock a person out for a while.
 * Every step is an audit event, and no event, log line or message holds a secret or a code.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { sealContext } from '../mfa/sealing.ts';
import { matchCode, newTotpSecret } from '../mfa/totp.ts';
import type { AccessContext } from './context.ts';
import type { SlackUserId } from './ids.ts';
import { notify, type EnrolmentMessage } from './notifications.ts';
import { refuse, type MfaPurpose, type Outcome } from './refusals.ts';

/** Five wrong codes within ten minutes lock MFA for fifteen. */
export const LOCK_AFTER_FAILURES = 5;
export const FAILURE_WINDOW_MS = 10 * 60_000;
export const LOCKOUT_MS = 15 * 60_000;

export type MfaContext = Pick<AccessContext, 'db' | 'audit' | 'policy' | 'log' | 'now' | 'secrets'>;

export interface MfaStatus {
  /** off: never enrolled or removed; pending: a QR code sent, not confirmed yet; on: confirmed. */
  state: 'off' | 'pending' | 'on';
  /** While `on`, a re-enrolment may be waiting for its confirmation. */
  reEnrolling: boolean;
  enrolledAt: Date | null;
  lockedUntil: Date | null;
}

type Trx = Transaction<Database>;

/**
 * Checks `code` for `userId` inside `trx`. A wrong, malformed or replayed code is counted
 * and recorded in `trx`, so the caller must commit it along with its refusal; the fifth
 * within ten minutes locks MFA for fifteen minutes and alerts the audit channel. While
 * locked, even a right code is refused. `confirm` checks the secret being enrolled; every
 * other purpose checks the one in force and uses up the code's time step.
 */
export async function checkCodeIn(
  ctx: MfaContext,
  trx: Trx,
  userId: SlackUserId,
  code: string,
  purpose: MfaPurpose,
  subject: string = userId,
): Promise<Outcome<{ step: number }>> {
  if (!ctx.secrets) return refuse({ kind: 'mfa-unavailable' });
  const now = ctx.now();
  await trx
    .insertInto('mfa_guards')
    .values({ user_id: userId })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .execute();
  const guard = await trx
    .selectFrom('mfa_guards')
    .selectAll()
    .where('user_id', '=', userId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (guard.locked_until && guard.locked_until > now) {
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'mfa.refused',
      subject,
      body: { purpose, reason: 'locked', locked_until: guard.locked_until.toISOString() },
    });
    return refuse({ kind: 'mfa-locked', until: guard.locked_until });
  }
  const row = await trx
    .selectFrom('mfa_enrolments')
    .selectAll()
    .where('user_id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
  const sealed = purpose === 'confirm' ? row?.pending_secret : row?.secret;
  if (!row || !sealed) return refuse({ kind: 'mfa-not-enrolled', purpose });
  const match = await matchCode(
    ctx.secrets.open(sealed, sealContext(userId)),
    code,
    now,
    purpose === 'confirm' ? null : row.last_step,
  );
  if (match.valid) {
    if (purpose !== 'confirm')
      await trx.updateTable('mfa_enrolments').set({ last_step: match.step }).where('user_id', '=', userId).execute();
    return { ok: true, step: match.step };
  }

  const failures = [...guard.failures.filter((at) => now.getTime() - at.getTime() < FAILURE_WINDOW_MS), now];
  if (failures.length >= LOCK_AFTER_FAILURES) {
    const until = new Date(now.getTime() + LOCKOUT_MS);
    await trx
      .updateTable('mfa_guards')
      .set({ failures: [], locked_until: until })
      .where('user_id', '=', userId)
      .execute();
    await ctx.audit.append(trx, {
      actor: userId,
      action: 'mfa.locked',
      subject,
      body: {
        purpose,
        reason: match.reason,
        failures: failures.length,
        window_minutes: FAILURE_WINDOW_MS / 60_000,
        locked_until: until.toISOString(),
      },
    });
    await notify(
      trx,
      { kind: 'notify_mfa_locked', userId, until: until.toISOString() },
      { kind: 'refresh_home', userId },
    );
    ctx.log.warn({ userId, purpose, lockedUntil: until.toISOString() }, 'MFA locked after repeated wrong codes');
    return refuse({ kind: 'mfa-locked', until });
  }
  await trx.updateTable('mfa_guards').set({ failures }).where('user_id', '=', userId).execute();
  await ctx.audit.append(trx, {
    actor: userId,
    action: 'mfa.failed',
    subject,
    body: { purpose, reason: match.reason, failures_in_window: failures.length },
  });
  if (match.reason === 'replayed') return refuse({ kind: 'mfa-replayed' });
  return refuse({
    kind: 'mfa-wrong',
    malformed: match.reason === 'malformed',
    attemptsLeft: LOCK_AFTER_FAILURES - failures.length,
  });
}

function leftoverOf(row: {
  enrolment_channel: string | null;
  enrolment_ts: string | null;
  enrolment_file: string | null;
}): EnrolmentMessage | undefined {
  if (!row.enrolment_channel) return undefined;
  return {
    channel: row.enrolment_channel,
    ...(row.enrolment_ts ? { ts: row.enrolment_ts } : {}),
    ...(row.enrolment_file ? { file: row.enrolment_file } : {}),
  };
}

export class MfaService {
  constructor(private readonly ctx: MfaContext) {}

  /** False when GATEHOUSE_SECRETS_KEY is not set: nothing can be enrolled or checked. */
  get available(): boolean {
    return Boolean(this.ctx.secrets);
  }

  isAdmin(userId: SlackUserId): boolean {
    return this.ctx.policy().policy.mfaAdmins.includes(userId);
  }

  async status(userId: SlackUserId): Promise<MfaStatus> {
    const [row, guard] = await Promise.all([
      this.ctx.db
        .selectFrom('mfa_enrolments')
        .select(['secret', 'pending_secret', 'enrolled_at'])
        .where('user_id', '=', userId)
        .executeTakeFirst(),
      this.ctx.db.selectFrom('mfa_guards').select('locked_until').where('user_id', '=', userId).executeTakeFirst(),
    ]);
    const lockedUntil = guard?.locked_until && guard.locked_until > this.ctx.now() ? guard.locked_until : null;
    if (!row) return { state: 'off', reEnrolling: false, enrolledAt: null, lockedUntil };
    return {
      state: row.secret ? 'on' : 'pending',
      reEnrolling: Boolean(row.secret && row.pending_secret),
      enrolledAt: row.enrolled_at,
      lockedUntil,
    };
  }

  /** Checks a code in a transaction of its own (for steps that are not a change of their own). */
  check(userId: SlackUserId, code: string, purpose: MfaPurpose, subject?: string): Promise<Outcome<{ step: number }>> {
    return this.ctx.audit.transact((trx) => checkCodeIn(this.ctx, trx, userId, code, purpose, subject));
  }

  /**
   * Starts an enrolment: a new secret waits to be confirmed and its QR code goes to the
   * person by direct message. Someone already enrolled must give a current code first
   * (`currentCode`), and their old authenticator keeps working until the new one is confirmed.
   */
  begin(userId: SlackUserId, currentCode?: string): Promise<Outcome<{ reEnrolment: boolean }>> {
    const box = this.ctx.secrets;
    if (!box) return Promise.resolve(refuse({ kind: 'mfa-unavailable' }));
    return this.ctx.audit.transact(async (trx) => {
      // checkCodeIn takes the locks (the guard's row, then the enrolment's: one order everywhere).
      const row = await trx
        .selectFrom('mfa_enrolments')
        .select('secret')
        .where('user_id', '=', userId)
        .executeTakeFirst();
      const reEnrolment = Boolean(row?.secret);
      if (reEnrolment) {
        if (currentCode === undefined) return refuse({ kind: 'mfa-already-on' });
        const checked = await checkCodeIn(this.ctx, trx, userId, currentCode, 're-enrol');
        if (!checked.ok) return checked;
      }
      const pending = box.seal(newTotpSecret(), sealContext(userId));
      const now = this.ctx.now();
      await trx
        .insertInto('mfa_enrolments')
        .values({ user_id: userId, pending_secret: pending, pending_since: now })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ pending_secret: pending, pending_since: now }))
        .execute();
      await this.ctx.audit.append(trx, {
        actor: userId,
        action: 'mfa.enrolment_started',
        subject: userId,
        body: { re_enrolment: reEnrolment },
      });
      await notify(trx, { kind: 'notify_mfa_enrolment', userId }, { kind: 'refresh_home', userId });
      return { ok: true as const, reEnrolment };
    });
  }

  /** Confirms the enrolment waiting for `userId` with a code from the new authenticator. */
  confirm(userId: SlackUserId, code: string): Promise<Outcome<{ reEnrolment: boolean }>> {
    return this.ctx.audit.transact(async (trx) => {
      const checked = await checkCodeIn(this.ctx, trx, userId, code, 'confirm');
      if (!checked.ok) return checked;
      const row = await trx
        .selectFrom('mfa_enrolments')
        .selectAll()
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      const reEnrolment = row.secret !== null;
      await trx
        .updateTable('mfa_enrolments')
        .set({
          secret: row.pending_secret,
          pending_secret: null,
          pending_since: null,
          enrolled_at: this.ctx.now(),
          last_step: checked.step,
        })
        .where('user_id', '=', userId)
        .execute();
      await this.ctx.audit.append(trx, {
        actor: userId,
        action: 'mfa.enrolled',
        subject: userId,
        body: { re_enrolment: reEnrolment },
      });
      // Where the QR code went is read when this is delivered (takeEnrolmentMessage): its
      // message may still be being posted now.
      await notify(trx, { kind: 'notify_mfa_enrolled', userId, reEnrolment }, { kind: 'refresh_home', userId });
      return { ok: true as const, reEnrolment };
    });
  }

  /** Turns MFA off for `userId`, who proves it is them with a current code. */
  remove(userId: SlackUserId, code: string): Promise<Outcome<object>> {
    return this.ctx.audit.transact(async (trx) => {
      const checked = await checkCodeIn(this.ctx, trx, userId, code, 'remove');
      if (!checked.ok) return checked;
      const row = await trx
        .deleteFrom('mfa_enrolments')
        .where('user_id', '=', userId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.ctx.audit.append(trx, { actor: userId, action: 'mfa.removed', subject: userId, body: {} });
      const leftover = leftoverOf(row);
      await notify(
        trx,
        { kind: 'notify_mfa_changed', userId, change: 'removed', ...(leftover ? { leftover } : {}) },
        { kind: 'refresh_home', userId },
      );
      return { ok: true as const };
    });
  }

  /**
   * An MFA admin (the policy's `mfa_admins`) clears another person's MFA and any lockout,
   * for a lost phone: they enrol again with `/access mfa`. Nobody resets their own.
   */
  reset(
    adminId: SlackUserId,
    userId: SlackUserId,
  ): Promise<Outcome<{ previous: MfaStatus['state']; wasLocked: boolean }>> {
    return this.ctx.audit.transact(async (trx) => {
      const refusal = !this.isAdmin(adminId) ? 'not-mfa-admin' : adminId === userId ? 'mfa-own-reset' : null;
      if (refusal) {
        await this.ctx.audit.append(trx, {
          actor: adminId,
          action: 'mfa.reset_refused',
          subject: userId,
          body: { reason: refusal },
        });
        return refuse({ kind: refusal });
      }
      const row = await trx
        .deleteFrom('mfa_enrolments')
        .where('user_id', '=', userId)
        .returningAll()
        .executeTakeFirst();
      const guard = await trx
        .selectFrom('mfa_guards')
        .select('locked_until')
        .where('user_id', '=', userId)
        .forUpdate()
        .executeTakeFirst();
      const wasLocked = Boolean(guard?.locked_until && guard.locked_until > this.ctx.now());
      await trx
        .updateTable('mfa_guards')
        .set({ failures: [], locked_until: null })
        .where('user_id', '=', userId)
        .execute();
      const previous: MfaStatus['state'] = !row ? 'off' : row.secret ? 'on' : 'pending';
      await this.ctx.audit.append(trx, {
        actor: adminId,
        action: 'mfa.reset',
        subject: userId,
        body: { previous, was_locked: wasLocked },
      });
      const leftover = row ? leftoverOf(row) : undefined;
      await notify(
        trx,
        { kind: 'notify_mfa_changed', userId, change: 'reset', by: adminId, ...(leftover ? { leftover } : {}) },
        { kind: 'refresh_home', userId },
      );
      return { ok: true as const, previous, wasLocked };
    });
  }

  /** Where the QR code of an enrolment was sent, so that it can be deleted once it is used. */
  async rememberEnrolmentMessage(userId: SlackUserId, message: EnrolmentMessage): Promise<void> {
    await this.ctx.db
      .updateTable('mfa_enrolments')
      .set({
        enrolment_channel: message.channel,
        enrolment_ts: message.ts ?? null,
        enrolment_file: message.file ?? null,
      })
      .where('user_id', '=', userId)
      .execute();
  }

  /**
   * The QR code message of a confirmed enrolment, to delete; undefined while another
   * enrolment waits (its own delivery deletes it). Forgotten once deleted.
   */
  async confirmedEnrolmentMessage(userId: SlackUserId): Promise<EnrolmentMessage | undefined> {
    const row = await this.ctx.db
      .selectFrom('mfa_enrolments')
      .select(['pending_secret', 'enrolment_channel', 'enrolment_ts', 'enrolment_file'])
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return !row || row.pending_secret ? undefined : leftoverOf(row);
  }

  async forgetEnrolmentMessage(userId: SlackUserId): Promise<void> {
    await this.ctx.db
      .updateTable('mfa_enrolments')
      .set({ enrolment_channel: null, enrolment_ts: null, enrolment_file: null })
      .where('user_id', '=', userId)
      .where('pending_secret', 'is', null)
      .execute();
  }

  /** The secret waiting to be confirmed, opened for its QR code; null when none waits. */
  async pendingEnrolment(
    userId: SlackUserId,
  ): Promise<{ secret: string; reEnrolment: boolean; leftover: EnrolmentMessage | undefined } | null> {
    const row = await this.ctx.db
      .selectFrom('mfa_enrolments')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row?.pending_secret) return null;
    if (!this.ctx.secrets) throw new Error('an MFA enrolment waits, but GATEHOUSE_SECRETS_KEY is not set to open it');
    return {
      secret: this.ctx.secrets.open(row.pending_secret, sealContext(userId)),
      reEnrolment: row.secret !== null,
      leftover: leftoverOf(row),
    };
  }
}
