import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** WebAssembly.RuntimeError (a trap); the project's TypeScript lib has no WebAssembly value types. */
const WasmRuntimeError = (
  globalThis as unknown as { WebAssembly?: { RuntimeError?: abstract new (...args: never[]) => Error } }
).WebAssembly?.RuntimeError;

/**
 * A tfjs-wasm trap (out-of-bounds memory access, emscripten abort) leaves the backend's heap in an unknown
 * state: every later tensor op in the process may fail or, worse, compute garbage. Seen here when an
 * evaluation overflowed the wasm heap: the worker then failed every activity it took for the rest of the run.
 */
export function isBackendBroken(err: unknown): boolean {
  if (WasmRuntimeError && err instanceof WasmRuntimeError) return true;
  return err instanceof Error && /memory access out of bounds|^Aborted\(/.test(err.message);
}

/**
 * Activity interceptor: an activity that fails with a broken backend (isBackendBroken) reports `onBroken`
 * and fails as it would have (retryable: the retry runs on a healthy worker), so the process can stop taking
 * activities and exit for its supervisor to restart it.
 */
export function backendGuard(onBroken: (err: Error) => void): ActivityInterceptorsFactory {
  return () => ({
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (err) {
          if (isBackendBroken(err)) onBroken(err as Error);
          throw err;
        }
      },
    },
  });
}

/** Why a worker process stopped itself: its tensor backend broke (a restart gives a fresh one). */
export class BackendBrokenError extends Error {
  override name = 'BackendBrokenError';
  constructor(cause: Error) {
    super(
      `the tensor backend broke in an activity (${cause.message}); this worker stopped taking activities and exits so it can be restarted with a fresh backend`,
    );
  }
}
