/**
 * A stand-in for one bot replica: N concurrent appenders, each recording events in
 * transactions of its own, with this process's own sequencer running in the background.
 * Usage: node --import tsx test/support/append-worker.ts <database-url> <worker> <appenders> <events-each>
 */
import { AuditLog } from '../../src/audit/audit-log.ts';
import { createDb, createPool } from '../../src/db/database.ts';
import { silentLogger } from '../../src/log.ts';
import type { TestAuditAction } from './db.ts';

const [url, worker, appenders, each] = process.argv.slice(2);
if (!url || !worker || !appenders || !each)
  throw new Error('usage: append-worker <url> <worker> <appenders> <events-each>');

const pool = createPool(url, Number(appenders) + 2);
const db = createDb(pool);
const audit = new AuditLog<TestAuditAction>(db, pool, silentLogger(), { intervalMs: 5, batchSize: 50 });
audit.sequencer.start();

// Start together: the parent releases every worker at once by writing a line to stdin.
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));

await Promise.all(
  Array.from({ length: Number(appenders) }, async (_, appender) => {
    for (let i = 0; i < Number(each); i++) {
      await audit.record({
        actor: 'system',
        action: 'test.concurrent',
        subject: `w${worker}-a${appender}`,
        body: { worker: Number(worker), appender, i },
      });
    }
  }),
);
await audit.sequencer.stop();
await db.destroy();
process.stdout.write('done\n');
