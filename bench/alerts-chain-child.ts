/**
 * The audit sequencer of the alerts benchmark, in a process of its own as in
 * gateway-chain-child.ts, polling every 250 ms as in production. Each batch it chains is
 * told to the parent, which passes it on to the watcher's process: the cue the app's
 * background thread gives its watcher. A nudge from the parent (the watcher committed an
 * alert) wakes it as the app's own commits do.
 */
import { AuditLog } from '../src/audit/audit-log.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { createLogger } from '../src/log.ts';
import type { ToChainChild, FromChild } from './alerts-children.ts';

const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: alerts-chain-child <gatehouse database url>');
const pool = createPool(url, 2);
pool.on('error', () => undefined);
const audit = new AuditLog(createDb(pool), pool, createLogger({ level: 'warn', destination: process.stderr }));
const send = (message: FromChild) => process.send?.(message);
audit.sequencer.on('chained', (batch) => send({ type: 'chained', headSeq: batch.headSeq }));

const stop = () =>
  void audit.sequencer
    .stop()
    .then(() => pool.end())
    .finally(() => process.exit(0));
process.on('message', (message: ToChainChild) => {
  switch (message.type) {
    case 'start':
      audit.sequencer.start();
      return send({ type: 'started', id: message.id });
    case 'nudge':
      return audit.sequencer.nudge();
    case 'cpu':
      return send({ type: 'cpu', id: message.id, ...usage() });
    case 'stop':
      return stop();
  }
});
process.once('disconnect', stop);

function usage() {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage.rss() / 2 ** 20 };
}

send({ type: 'ready' });
