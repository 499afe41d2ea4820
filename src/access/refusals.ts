import type { SlackUserId } from './ids.ts';
import type { AccessRequest, Grant } from './types.ts';

export interface ResourceRef {
  id: string;
  name: string;
}

/**
 * Why the domain said no. Adapters turn each into words (src/slack/blocks/refusals.ts):
 * what went wrong, what is allowed, what to do next.
 */
export type Refusal =
  | { kind: 'unknown-resource'; given: string; allowed: ResourceRef[] }
  | { kind: 'not-allowed'; resource: ResourceRef; allowed: ResourceRef[] }
  | { kind: 'too-long'; resource: ResourceRef; requestedMs: number; maxMs: number }
  | { kind: 'bad-duration'; given: string }
  | { kind: 'reason-required'; resource: ResourceRef }
  /** The resource's `ticket:` rule: no ticket, or one that does not match its pattern (`given`). */
  | { kind: 'ticket-needed'; resource: ResourceRef; pattern: string; example: string | null; given?: string }
  /** A reason (of a request, an extension or a denial) over MAX_REASON_LENGTH characters. */
  | { kind: 'reason-too-long'; length: number; max: number }
  | { kind: 'deny-reason-required' }
  /** An extension of a grant that no longer gives access (ended, or being taken away). */
  | { kind: 'extension-of-ended'; grant: Grant }
  /** I'm done on a grant that had already ended. */
  | { kind: 'already-ended'; grant: Grant }
  /** An extension asked for another resource than the grant's. */
  | { kind: 'extension-other-resource'; grant: Grant; resource: ResourceRef }
  | { kind: 'already-held'; grant: Grant }
  | { kind: 'already-pending'; request: AccessRequest }
  | { kind: 'not-approver'; request: AccessRequest }
  /** `owner`: the requester is also an owner of the resource (and still may not decide their own request). */
  | { kind: 'own-request'; request: AccessRequest; owner: boolean }
  | { kind: 'already-approved-by-you'; request: AccessRequest }
  | { kind: 'already-decided'; request: AccessRequest }
  | { kind: 'not-yours' }
  | { kind: 'not-found'; id: string }
  | { kind: 'not-auditor' }
  /** MFA (src/mfa): the person has no confirmed authenticator (or, for `confirm`, no enrolment waiting). */
  | { kind: 'mfa-not-enrolled'; purpose: MfaPurpose }
  /** A resource needs a code with the request and none was given. */
  | { kind: 'mfa-code-needed'; resource: ResourceRef }
  | { kind: 'mfa-wrong'; malformed: boolean; attemptsLeft: number }
  | { kind: 'mfa-replayed' }
  | { kind: 'mfa-locked'; until: Date }
  /** MFA needs GATEHOUSE_SECRETS_KEY, which this deployment does not have. */
  | { kind: 'mfa-unavailable' }
  | { kind: 'mfa-already-on' }
  | { kind: 'not-mfa-admin' }
  | { kind: 'mfa-own-reset' }
  /** Only the owners of an alert's resource and the policy's security group act on an alert. */
  | { kind: 'not-alert-responder'; action: 'acknowledge' | 'end_access' }
  | { kind: 'alert-already-acknowledged'; by: SlackUserId; at: Date }
  /** The person an alert is about may not acknowledge it (it would take it off everyone's list). */
  | { kind: 'alert-about-you' }
  /** The access an alert is about has already ended (or is not the clicker's to end). */
  | { kind: 'alert-nothing-to-end'; alert: { id: string; title: string } }
  /** Break-glass (access/break-glass.ts): the resource allows none, or not for this person. */
  | { kind: 'break-glass-not-allowed'; resource: ResourceRef; offered: boolean }
  | { kind: 'break-glass-too-long'; resource: ResourceRef; requestedMs: number; maxMs: number }
  /** Only owners other than its holder ratify or revoke a break-glass grant. */
  | { kind: 'not-break-glass-owner'; action: 'ratify' | 'revoke'; owners: SlackUserId[]; holder: boolean }
  | { kind: 'break-glass-settled'; status: 'ratified' | 'unratified' | 'revoked'; by: string | null; at: Date | null }
  | { kind: 'already-ratified-by-you'; given: number; quorum: number }
  /** Contracts (access/contracts.ts): the requester's contract has ended; `written` as the policy has it. */
  | { kind: 'contract-ended'; written: string; endsAt: Date; owners: SlackUserId[] }
  /** An extension of a grant that already ends with the requester's contract. */
  | { kind: 'extension-past-contract'; written: string; endsAt: Date; owners: SlackUserId[] };

/** What a TOTP code is being asked for: it is on the record with each check. */
export type MfaPurpose = 'confirm' | 're-enrol' | 'remove' | 'request' | 'approve';

export type Outcome<T> = ({ ok: true } & T) | { ok: false; refusal: Refusal };

export const refuse = (refusal: Refusal): { ok: false; refusal: Refusal } => ({ ok: false, refusal });
