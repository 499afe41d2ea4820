/**
 * Ids typed by kind, so that one cannot be passed for another: a grant's id where a
 * request's is wanted, a request's where a person's is. At run time they are the plain
 * strings stored in the tables and sent to Slack.
 *
 * Each is typed where it is minted (newRequestId, newGrantId in access/ids.ts) or where it
 * arrives from outside, with the `as…` functions below: a button's value, a form's
 * private_metadata, a Slack payload's user (slack/inbound/ids.ts), the policy file, the
 * outbox's payloads, what a provisioner finds in its target. They check nothing: the
 * access rules look an id up and refuse one that names nothing, as they always have.
 *
 * The kind is optional, so a plain string still passes for an id (fixtures and benchmarks
 * build grants from string literals) while one kind of id never passes for another.
 * src/ compiles with it required (`readonly __kind: …`), which also refuses a plain string.
 */
export type RequestId = string & { readonly __kind?: 'RequestId' };
export type GrantId = string & { readonly __kind?: 'GrantId' };
export type SlackUserId = string & { readonly __kind?: 'SlackUserId' };

/** A request's id as it arrived: typed, not checked. */
export const asRequestId = (text: string): RequestId => text as RequestId;
/** A grant's id as it arrived: typed, not checked. */
export const asGrantId = (text: string): GrantId => text as GrantId;
/** A person's Slack user id as it arrived (Slack, the policy file): typed, not checked. */
export const asSlackUserId = (text: string): SlackUserId => text as SlackUserId;
