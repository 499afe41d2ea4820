/**
 * The audit sequencer of the gateway benchmark, in a process of its own (nice 10, as the
 * app's background thread runs it), so that the gateway's process measures the gateway
 * alone. It chains what the gateway queues, polling as in production: the gateway's group
 * commits do not nudge it. SIGTERM: it chains what is left and exits.
 */
import { AuditLog } from '../src/audit/audit-log.ts';
import { createDb, createPool } from '../src/db/database.ts';
import { silentLogger } from '../src/log.ts';

const [url] = process.argv.slice(2);
if (!url) throw new Error('usage: gateway-chain-child <gatehouse database url>');
const pool = createPool(url, 2);
pool.on('error', () => undefined);
const audit = new AuditLog(createDb(pool), pool, silentLogger());
audit.sequencer.start();
process.once('SIGTERM', () => {
  void audit.sequencer
    .stop()
    .then(() => pool.end())
    .finally(() => process.exit(0));
});
process.send?.('ready');
