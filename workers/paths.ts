import { fileURLToPath } from 'node:url';

/** Entry of the workflow bundle that every worker loads. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
