import { downStack } from './stack';

downStack().catch((err) => {
  console.error(`infra down failed: ${(err as Error).message}`);
  process.exit(1);
});
