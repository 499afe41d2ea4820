/** What the chaos run (chaos/run.ts) and the Slack world process (chaos/slack-world.ts) say over IPC. */

export interface WorldSettings {
  /** The load balancer's `/slack/events`, where Slack sends commands and clicks. */
  frontUrl: string;
  signingSecret: string;
  auditChannel: string;
  owners: string[];
  contractors: string[];
  /** Contractors enrolled in MFA ahead, who also ask for the MFA resource. */
  mfaUsers: string[];
  /** Resources every contractor may ask for (provisioned, plain). */
  resources: string[];
  mfaResource: string;
  /** Reached through the gateway: its holders connect with `pg` and run statements. */
  gatewayResource: string;
}

/** One slash command a person sent, and what came of it as Slack saw it. */
export interface SentCommand {
  /** Unique per command; it is in the reason (or the unknown resource's name) as typed. */
  token: string;
  user: string;
  kind: 'request' | 'unknown-resource' | 'mfa-request';
  /** Milliseconds since the epoch. */
  sentAt: number;
  /** The HTTP status of the ack, or the failure's code (`timeout`, `ECONNRESET`, …). */
  ack: string;
  /** Texts the app answered with (response_url posts, form errors); empty when none. */
  answers: string[];
  /** The form the command opened was shown (views.open answered). */
  formShown: boolean;
  responseUrl: string;
  triggerId: string;
}

export interface GatewayCounts {
  /** Sessions opened through the gateway front with a grant's login, and how many could not be. */
  sessions: number;
  sessionsRefused: number;
  statements: number;
  statementsFailed: number;
  /** Sessions cut under them (the grant ended, a replica died). */
  sessionsCut: number;
  /** Logins tried again more than 2 s after their grant's end: refused, as they must be, or accepted. */
  lateLoginsRefused: number;
  lateLoginsAccepted: string[];
}

export interface StoryCounts {
  started: number;
  approved: number;
  denied: number;
  cancelled: number;
  extensionsAsked: number;
  extensionsApproved: number;
  mfaFiled: number;
  refusalsProbed: number;
  /** Stories that stopped waiting for something (a card, an answer) within their bound. */
  gaveUp: Record<string, number>;
  gateway: GatewayCounts;
  /** Clicks and submissions Slack sent, by outcome (`200`, `502`, `timeout`, …). */
  interactions: Record<string, number>;
}

export interface WorldReport {
  commands: SentCommand[];
  stories: StoryCounts;
  /** Every seq the audit channel shows, in the order the posts are in the channel. */
  auditSeqs: number[];
  /** Posts to the audit channel that carry events (not checkpoints). */
  auditPosts: number;
  /** Seqs posted more than once, with the wall-clock time (ms) of each post. */
  repeatedPosts: { seq: number; at: number[] }[];
  /** Web API calls by method, and how many were failed on purpose. */
  calls: Record<string, number>;
  injectedFailures: Record<string, number>;
}

export type WorldRequest =
  | { type: 'enrol' }
  | { type: 'load'; seconds: number; quietTailSeconds: number }
  | { type: 'fault'; ms: number }
  | { type: 'report' }
  | { type: 'stop' };

export type WorldReply =
  | { type: 'ready'; apiUrl: string }
  | { type: 'enrolled'; users: number }
  | { type: 'load-done' }
  | { type: 'fault-over'; failed: number }
  | { type: 'report'; report: WorldReport }
  | { type: 'error'; message: string };
