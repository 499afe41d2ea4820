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
  | { kind: 'already-held'; grant: Grant }
  | { kind: 'already-pending'; request: AccessRequest }
  | { kind: 'not-approver'; request: AccessRequest }
  | { kind: 'own-request'; request: AccessRequest }
  | { kind: 'already-approved-by-you'; request: AccessRequest }
  | { kind: 'already-decided'; request: AccessRequest }
  | { kind: 'not-yours' }
  | { kind: 'not-found'; id: string }
  | { kind: 'not-auditor' };

export type Outcome<T> = ({ ok: true } & T) | { ok: false; refusal: Refusal };

export const refuse = (refusal: Refusal): { ok: false; refusal: Refusal } => ({ ok: false, refusal });
