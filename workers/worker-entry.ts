import { parseRoles, runWorkers, stopWithParent } from './worker';

/** `tsx workers/worker-entry.ts <roles>`: a worker process of the given comma-separated roles. */
stopWithParent();
runWorkers(parseRoles(process.argv[2] ?? '')).catch((err) => {
  console.error(err);
  process.exit(1);
});
