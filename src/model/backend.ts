import * as tf from '@tensorflow/tfjs';

/**
 * Tensor backend selection (ISTAR_BACKEND): `tensorflow` = libtensorflow through tfjs-node-gpu (GPU
 * workers) or tfjs-node; `wasm` = XNNPACK with SIMD (single-threaded in Node); `cpu` = plain JS.
 * Packages are imported dynamically so a missing optional one never breaks loading this module.
 */
export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What was asked for. */
  requested: BackendName;
  /** The tfjs backend now active: 'tensorflow' | 'wasm' | 'cpu'. */
  backend: string;
  /** Human-readable device: package and features. */
  device: string;
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

const INSTALL_HELP =
  'install it with `npm install @tensorflow/tfjs-node-gpu` (needs CUDA/cuDNN and downloads libtensorflow ' +
  'during install) or `npm install @tensorflow/tfjs-node` (CPU libtensorflow), or use ISTAR_BACKEND=wasm';

async function importOptional(pkg: string): Promise<boolean> {
  try {
    await import(/* @vite-ignore */ pkg);
    return true;
  } catch {
    return false;
  }
}

async function loadTensorflow(): Promise<string | undefined> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if ((await importOptional(pkg)) && tf.findBackend('tensorflow')) return pkg;
  }
  return undefined;
}

async function activate(requested: BackendName): Promise<BackendInfo> {
  if (!BACKEND_NAMES.includes(requested)) {
    throw new Error(
      `unknown tensor backend "${requested}"; ISTAR_BACKEND must be one of ${BACKEND_NAMES.join(', ')}`,
    );
  }
  let backend: string;
  let device: string;
  if (requested === 'tensorflow' || requested === 'auto') {
    const pkg = await loadTensorflow();
    if (pkg) {
      backend = 'tensorflow';
      device = pkg.endsWith('-gpu') ? `${pkg} (GPU if CUDA is visible)` : `${pkg} (CPU)`;
    } else if (requested === 'tensorflow') {
      throw new Error(`tensor backend "tensorflow" is not installed: ${INSTALL_HELP}`);
    } else {
      backend = 'wasm';
      device = '';
    }
  } else {
    backend = requested;
    device = '';
  }
  if (backend === 'wasm') {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
    } catch (err) {
      throw new Error(
        `tensor backend "wasm" is not installed: npm install @tensorflow/tfjs-backend-wasm (${String(err)})`,
      );
    }
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tensor backend "${backend}" failed to initialise`);
  await tf.ready();
  if (backend === 'wasm') {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    device = `@tensorflow/tfjs-backend-wasm (XNNPACK, simd=${simd}, threads=${threads})`;
  } else if (backend === 'cpu') {
    device = '@tensorflow/tfjs cpu (plain JS)';
  }
  const info: BackendInfo = { requested, backend, device };
  console.log(`[istar/model] tensor backend ${backend}: ${device}`);
  return info;
}

/**
 * Select and initialise the tensor backend. A second call with the same request is a no-op;
 * a call naming a different backend switches to it (tests compare backends this way).
 */
export async function initBackend(name: string = process.env.ISTAR_BACKEND ?? 'auto'): Promise<BackendInfo> {
  const requested = (name || 'auto') as BackendName;
  if (pending) await pending.catch(() => undefined);
  if (current && (current.requested === requested || current.backend === requested)) return current;
  pending = activate(requested);
  try {
    current = await pending;
    return current;
  } finally {
    pending = undefined;
  }
}

/** The backend initialised by initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
