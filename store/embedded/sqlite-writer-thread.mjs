// Worker entry of the embedded store's writer thread. Node 20 does not apply
// a parent's `--import tsx` loader to worker threads, so the thread registers
// tsx itself before loading the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-writer-thread.ts');
