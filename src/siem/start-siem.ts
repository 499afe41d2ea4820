import { readLogId } from '../audit/checkpoints/store.ts';
import type { ChainedCue } from '../audit/sequencer.ts';
import type { ShutdownStack } from '../boot/shutdown-stack.ts';
import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { SiemDestination } from './destination.ts';
import { OtlpDestination } from './otlp.ts';
import { SiemStreamer } from './siem-streamer.ts';
import { syslogDestination } from './syslog.ts';

export interface SiemContext {
  config: Config;
  db: Db;
  log: Logger;
  cue: ChainedCue;
  now: () => Date;
}

/** The destinations the configuration turns on (docs/siem.md); none when no SIEM URL is set. */
export async function siemDestinations({ config, db }: Pick<SiemContext, 'config' | 'db'>): Promise<SiemDestination[]> {
  const { otlp, syslog } = config.siem;
  if (!otlp && !syslog) return [];
  const logId = await readLogId(db);
  const destinations: SiemDestination[] = [];
  if (otlp) destinations.push(new OtlpDestination({ url: otlp.url, headers: otlp.headers, logId }));
  if (syslog) destinations.push(await syslogDestination({ ...syslog, logId }));
  return destinations;
}

/**
 * Streams the audit log to each SIEM destination configured, from the background thread;
 * every replica runs the streamers and the cursor rows' locks let one send at a time.
 */
export async function startSiem(ctx: SiemContext, parts: ShutdownStack): Promise<SiemStreamer[]> {
  const streamers: SiemStreamer[] = [];
  for (const destination of await siemDestinations(ctx)) {
    const streamer = new SiemStreamer(ctx.db, destination, {
      cue: ctx.cue,
      log: ctx.log.child({ component: 'siem', destination: destination.name }),
      now: ctx.now,
      batch: ctx.config.siem.batch,
    });
    streamer.start();
    parts.push(() => streamer.stop());
    streamers.push(streamer);
  }
  return streamers;
}
