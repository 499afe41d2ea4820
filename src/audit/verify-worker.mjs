// Entry of verify's hashing thread (verify-worker.ts). Gatehouse runs its TypeScript through
// tsx. On Node 20 a worker thread inherits neither a loader registered in process (as
// bin/gatehouse.js does) nor one from `--import tsx`: verify.ts starts it with tsx's loader
// in its execArgv, and it registers tsx here before loading the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./verify-worker.ts');
