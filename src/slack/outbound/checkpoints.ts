import { checkpointById } from '../../audit/checkpoints/store.ts';
import * as ui from '../blocks/index.ts';
import { checkpointMetadata } from './channel-anchors.ts';
import type { Outbound } from './outbound.ts';

/** Posts a signed checkpoint to the audit channel, where it can be read back as an anchor. */
export async function publishCheckpoint(out: Outbound, id: number): Promise<void> {
  const checkpoint = await checkpointById(out.db, id);
  if (!checkpoint) throw new Error(`checkpoint #${id} not found`);
  await out.to.toAuditChannel(ui.checkpointMessage(checkpoint), checkpointMetadata(checkpoint));
}
