import { runWorkers } from './worker';

// Trainer workers take the GPU backend when @tensorflow/tfjs-node-gpu loads (ISTAR_BACKEND=auto).
runWorkers(['trainer']).catch((err) => {
  console.error(err);
  process.exit(1);
});
