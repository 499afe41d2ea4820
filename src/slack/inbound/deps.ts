import type { AccessService } from '../../access/service.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import type { AnchoredVerifyResult } from '../../audit/checkpoints/checks.ts';
import type { AnchoredVerifyOptions } from '../../audit/checkpoints/verify-anchored.ts';
import type { LoadedPolicy } from '../../config/policy.ts';
import type { Logger } from '../../log.ts';
import type { VerificationSettings } from './verify-audit.ts';

/** What the Slack listeners need: the access rules, the audit log, the policy and how to verify. */
export interface SlackDeps {
  access: AccessService;
  audit: AuditLog;
  policy: () => LoadedPolicy;
  log: Logger;
  /** The checkpoint key and anchor file `/verify-audit` checks with. */
  verification: VerificationSettings;
  /** Runs the verification (in the background thread when it is up: seconds of CPU for a large log). */
  verifyAnchored(options: AnchoredVerifyOptions): Promise<AnchoredVerifyResult>;
}
