// Worker entry: worker threads do not inherit the TypeScript loader, so register it here
// before loading the real (TypeScript) worker module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
