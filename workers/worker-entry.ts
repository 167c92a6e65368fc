import { parseRoles, runWorkers } from './worker';

/** `tsx workers/worker-entry.ts <roles>`: a worker process of the given comma-separated roles. */
runWorkers(parseRoles(process.argv[2] ?? '')).catch((err) => {
  console.error(err);
  process.exit(1);
});
