/**
 * The bucket's key layout (DESIGN.md section 6). Experiment ids are validated here and nowhere is a raw id
 * joined into a key without passing through `experimentPrefix`.
 *
 *   experiments/<id>/config.json
 *   experiments/<id>/iterations/<000042>/{rollouts, pairs, advantages, metrics.json}
 *   experiments/<id>/checkpoints/{policy,prm,reference}/<000042>/{manifest.json, weights.bin}
 *   experiments/<id>/report/index.html
 */

export const MAX_EXPERIMENT_ID_LENGTH = 128;
const EXPERIMENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class InvalidExperimentIdError extends Error {
  override name = 'InvalidExperimentIdError';
}

/** Throws an InvalidExperimentIdError naming what is wrong with `id`; returns it unchanged when valid. */
export function validateExperimentId(id: unknown): string {
  const bad = (why: string): never => {
    throw new InvalidExperimentIdError(`invalid experiment id ${JSON.stringify(id)}: ${why}`);
  };
  if (typeof id !== 'string') return bad('it must be a string');
  if (id.length === 0) bad('it is empty');
  if (id.length > MAX_EXPERIMENT_ID_LENGTH)
    bad(`it is ${id.length} characters long, the limit is ${MAX_EXPERIMENT_ID_LENGTH}`);
  if (id.includes('/') || id.includes('\\')) bad('it contains a path separator');
  if (id === '.' || id === '..' || id.includes('..')) bad('it contains ".." (path traversal)');
  if (!EXPERIMENT_ID.test(id)) {
    const odd = [...id].find((c) => !/[A-Za-z0-9._-]/.test(c));
    bad(
      odd !== undefined
        ? `character ${JSON.stringify(odd)} is not allowed (use letters, digits, "-", "_", ".")`
        : 'it must start with a letter or digit',
    );
  }
  return id;
}

export type CheckpointKind = 'policy' | 'prm' | 'reference' | 'value';
const CHECKPOINT_KINDS: readonly CheckpointKind[] = ['policy', 'prm', 'reference', 'value'];

export function padIteration(iteration: number): string {
  if (!Number.isInteger(iteration) || iteration < 0 || iteration > 999_999) {
    throw new Error(`iteration must be an integer in 0..999999, got ${iteration}`);
  }
  return String(iteration).padStart(6, '0');
}

export const experimentPrefix = (id: string) => `experiments/${validateExperimentId(id)}/`;
export const configKey = (id: string) => `${experimentPrefix(id)}config.json`;
export const iterationPrefix = (id: string, iteration: number) =>
  `${experimentPrefix(id)}iterations/${padIteration(iteration)}/`;
export const iterationKey = (id: string, iteration: number, name: string) => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(name) || name.includes('..'))
    throw new Error(`invalid artifact name ${JSON.stringify(name)}`);
  return `${iterationPrefix(id, iteration)}${name}`;
};
export const checkpointPrefix = (id: string, kind: CheckpointKind, iteration: number) => {
  if (!CHECKPOINT_KINDS.includes(kind))
    throw new Error(`unknown checkpoint kind ${JSON.stringify(kind)}; valid: ${CHECKPOINT_KINDS.join(', ')}`);
  return `${experimentPrefix(id)}checkpoints/${kind}/${padIteration(iteration)}/`;
};
export const reportKey = (id: string) => `${experimentPrefix(id)}report/index.html`;

/** Parse the iteration number out of an `.../iterations/000042/...` or `.../<kind>/000042/...` key. */
export function iterationOfKey(key: string): number | undefined {
  const m = /\/(\d{6})\//.exec(key);
  return m ? Number(m[1]) : undefined;
}
