/** Block Kit builders: pure functions from domain data to Slack messages and views. */
export * from './ids.ts';
export * from './text.ts';
export { LIMITS, type Message } from './kit.ts';
export * from './approval-card.ts';
export * from './requester-dms.ts';
export * from './owner-dms.ts';
export * from './refusals.ts';
export * from './access-list.ts';
export * from './modals.ts';
export * from './extend-modal.ts';
export * from './app-home.ts';
export * from './audit-channel.ts';
export * from './verify-result.ts';
export * from './checkpoint.ts';
export * from './mfa.ts';
export * from './failures.ts';
export * from './gateway-sessions.ts';
export * from './alerts.ts';
