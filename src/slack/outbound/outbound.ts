import type { WebClient } from '@slack/web-api';
import type { AccessService } from '../../access/service.ts';
import type { LoadedPolicy } from '../../config/policy.ts';
import type { Db } from '../../db/database.ts';
import type { Logger } from '../../log.ts';
import type { Conversations } from './conversations.ts';

/** What the Slack deliveries read and send with. */
export interface Outbound {
  client: WebClient;
  to: Conversations;
  access: AccessService;
  policy: () => LoadedPolicy;
  /** For the Slack-side records: approval cards posted, checkpoints to publish. */
  db: Db;
  log: Logger;
  now: () => Date;
}
