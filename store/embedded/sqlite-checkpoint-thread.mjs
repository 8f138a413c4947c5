// Worker entry of the embedded store's checkpoint thread (see
// sqlite-checkpoint-thread.ts); registers tsx itself like the writer's entry.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-checkpoint-thread.ts');
