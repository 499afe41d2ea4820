/** One verification (or read-only baseline) run, reporting time and this process's peak RSS as JSON. */
import { verifyChain } from '../src/audit/verify.ts';
import { createPool } from '../src/db/database.ts';

const [url, mode] = process.argv.slice(2);
if (!url || (mode !== 'verify' && mode !== 'read-only')) throw new Error('usage: verify-child <url> verify|read-only');
const pool = createPool(url, 1);
let rows = 0;
const started = performance.now();
const result = await verifyChain(pool, { readOnly: mode === 'read-only', onProgress: (read) => (rows = read) });
const seconds = (performance.now() - started) / 1000;
await pool.end();
if (mode === 'verify' && (!result.ok || result.checked !== rows))
  throw new Error(`verification failed: ${JSON.stringify(result.failure)}`);
process.stdout.write(JSON.stringify({ mode, seconds, rows, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
