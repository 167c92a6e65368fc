import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The project root (this file lives in <root>/infra). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Git-ignored home of installed binaries, server data and logs; ISTAR_HOME overrides it. */
export function istarHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.ISTAR_HOME ? path.resolve(env.ISTAR_HOME) : path.join(projectRoot, '.istar');
}

export const binDir = (home = istarHome()) => path.join(home, 'bin');
export const temporalPipDir = (home = istarHome()) => path.join(home, 'temporal-cli');
