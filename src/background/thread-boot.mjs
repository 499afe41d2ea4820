// Starts the background thread: registers tsx (as bin/gatehouse.js does), then loads the
// TypeScript entry named in workerData. Node 20 does not apply `--import tsx` to workers
// reliably, so this small file stays plain JavaScript.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
