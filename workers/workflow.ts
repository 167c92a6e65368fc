import { runWorkers } from './worker';

runWorkers(['workflow']).catch((err) => {
  console.error(err);
  process.exit(1);
});
