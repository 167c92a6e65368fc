import { runWorkers } from './worker';

runWorkers(['rollout']).catch((err) => {
  console.error(err);
  process.exit(1);
});
