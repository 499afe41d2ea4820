import type { Migration } from 'kysely';
import * as auditLog from './2026-11-26T0001_audit_log.ts';
import * as access from './2026-11-27T0002_access.ts';
import * as checkpoints from './2026-11-27T0003_checkpoints.ts';
import * as outboxHomes from './2026-11-27T0004_outbox_homes.ts';
import * as grantDelivery from './2026-11-27T0005_grant_delivery.ts';
import * as mfa from './2026-11-27T0006_mfa.ts';
import * as grantEndNotify from './2026-12-03T0007_grant_end_notify.ts';
import * as notificationKinds from './2026-12-03T0008_notification_kinds.ts';
import * as gateway from './2026-12-03T0009_gateway.ts';
import * as alerts from './2026-12-03T0010_alerts.ts';
import * as extendInPlace from './2026-12-03T0011_extend_in_place.ts';
import * as auditTree from './2026-12-03T0012_audit_tree.ts';
import * as checkpointNotes from './2026-12-04T0013_checkpoint_notes.ts';
import * as siemCursor from './2026-12-04T0014_siem_cursor.ts';
import * as breakGlassContracts from './2026-12-04T0015_break_glass_contracts.ts';
import * as accessReviews from './2026-12-04T0016_access_reviews.ts';
import * as asking from './2026-12-04T0017_asking.ts';
import * as feedIntent from './2026-12-04T0018_feed_intent.ts';
import * as gatewayReplicaLost from './2026-12-04T0019_gateway_replica_lost.ts';

/** Every migration, in order. Landed migrations are never edited: add a new one. */
export const migrations: Record<string, Migration> = {
  '2026-11-26T0001_audit_log': auditLog,
  '2026-11-27T0002_access': access,
  '2026-11-27T0003_checkpoints': checkpoints,
  '2026-11-27T0004_outbox_homes': outboxHomes,
  '2026-11-27T0005_grant_delivery': grantDelivery,
  '2026-11-27T0006_mfa': mfa,
  '2026-12-03T0007_grant_end_notify': grantEndNotify,
  '2026-12-03T0008_notification_kinds': notificationKinds,
  '2026-12-03T0009_gateway': gateway,
  '2026-12-03T0010_alerts': alerts,
  '2026-12-03T0011_extend_in_place': extendInPlace,
  '2026-12-03T0012_audit_tree': auditTree,
  '2026-12-04T0013_checkpoint_notes': checkpointNotes,
  '2026-12-04T0014_siem_cursor': siemCursor,
  '2026-12-04T0015_break_glass_contracts': breakGlassContracts,
  '2026-12-04T0016_access_reviews': accessReviews,
  '2026-12-04T0017_asking': asking,
  '2026-12-04T0018_feed_intent': feedIntent,
  '2026-12-04T0019_gateway_replica_lost': gatewayReplicaLost,
};
