import { upStack } from './stack';

async function run(): Promise<void> {
  const stack = await upStack();
  console.log(
    `stack up: Temporal ${stack.temporal.address} (UI ${stack.uiUrl}), S3 ${stack.s3.endpoint} bucket ${stack.s3.bucket}`,
  );
}

run().catch((err) => {
  console.error(`infra up failed: ${(err as Error).message}`);
  process.exit(1);
});
