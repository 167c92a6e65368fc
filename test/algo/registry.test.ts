import { describe, expect, it } from 'vitest';
import {
  ALGORITHM_NAMES,
  AlgorithmRegistry,
  algorithms,
  builtinAlgorithms,
  createAlgorithmRegistry,
  resolveAlgorithm,
} from '../../src/algo';
import { z } from 'zod';
import { batchOf, outcomeGroup, step, traj } from './helpers';

describe('algorithm registry', () => {
  it('holds istar and the baselines', () => {
    expect(algorithms.names()).toEqual(['istar', 'rloo', 'grpo', 'reinforce++', 'gigpo', 'prime', 'ppo']);
    expect([...ALGORITHM_NAMES]).toEqual(algorithms.names());
  });

  it('refuses duplicates', () => {
    const r = createAlgorithmRegistry();
    expect(() => r.register(builtinAlgorithms()[1])).toThrow(
      "algorithm 'rloo' is already registered; names must be unique",
    );
    const fresh = new AlgorithmRegistry();
    fresh.register({
      name: 'mine',
      description: '',
      stages: builtinAlgorithms()[1].stages,
      options: z.object({}),
      advantages: () => ({ advantages: [], metrics: {} }),
    });
    expect(() => fresh.register({ ...fresh.get('mine') })).toThrow(/already registered/);
  });

  it('unknown names throw listing the valid names', () => {
    expect(() => algorithms.get('dqn')).toThrow(
      "unknown algorithm 'dqn'; valid algorithms: istar, rloo, grpo, reinforce++, gigpo, prime, ppo",
    );
  });

  it('maps each algorithm to the stages it needs', () => {
    const stages = Object.fromEntries(algorithms.names().map((n) => [n, algorithms.get(n).stages]));
    expect(stages.istar).toEqual({
      needsPrm: true,
      prmLoss: 'dpo',
      needsPreferences: true,
      needsValueHead: false,
      needsReference: false,
    });
    expect(stages.prime).toEqual({
      needsPrm: true,
      prmLoss: 'prime-ce',
      needsPreferences: false,
      needsValueHead: false,
      needsReference: true,
    });
    expect(stages.ppo.needsValueHead).toBe(true);
    for (const n of ['rloo', 'grpo', 'reinforce++', 'gigpo'])
      expect(stages[n]).toEqual({
        needsPrm: false,
        prmLoss: null,
        needsPreferences: false,
        needsValueHead: false,
        needsReference: false,
      });
  });

  it('fills option defaults and rejects bad options naming the field', () => {
    expect(resolveAlgorithm('istar').options).toEqual({
      beta: 0.05,
      alpha: 1,
      episodeEstimator: 'rloo',
      variant: 'full',
      prmAggregation: 'sum',
      prmScoring: 'updated',
      invalidStepCredit: 'non-positive',
      alphaGate: 'fixed',
    });
    expect(
      resolveAlgorithm('istar', { episodeEstimator: 'reinforce++', variant: 'process-only' }).options
        .episodeEstimator,
    ).toBe('reinforce++');
    expect(() => resolveAlgorithm('istar', { episodeEstimator: 'ppo' })).toThrow(
      /invalid options for algorithm 'istar': episodeEstimator/,
    );
    expect(() => resolveAlgorithm('istar', { alhpa: 1 })).toThrow(/invalid options for algorithm 'istar'/);
    expect(() => resolveAlgorithm('rloo', { beta: 1 })).toThrow(/invalid options for algorithm 'rloo'/);
    expect(resolveAlgorithm('gigpo').options).toEqual({ gamma: 0.95, stepWeight: 1, norm: 'mean' });
  });

  it('advantage functions run through the registry', () => {
    const batch = batchOf(outcomeGroup(3, 1, 2));
    expect(resolveAlgorithm('rloo').advantages({ batch }).advantages).toEqual([[[[1.5]], [[-1.5]], [[0]]]]);
    expect(resolveAlgorithm('grpo', { meanOnly: true }).advantages({ batch }).advantages).toEqual([
      [[[1]], [[-1]], [[0]]],
    ]);
    const two = batchOf([traj([step([-1])], 1), traj([step([-1])], 0)]);
    // iStar with equal PRM and pi_old: every r_t = 0 so A_S = 0 and A = RLOO [1, -1]
    expect(
      resolveAlgorithm('istar').advantages({ batch: two, prmLogProbs: [[[[-1]], [[-1]]]] }).advantages,
    ).toEqual([[[[1]], [[-1]]]]);
    expect(() => resolveAlgorithm('ppo').advantages({ batch: two })).toThrow(/values .* are required/);
  });
});

describe('registry import graph', () => {
  it('stays free of tfjs and Node built-ins, so workflow code may import it', async () => {
    const { readFileSync, existsSync } = await import('node:fs');
    const { dirname, resolve } = await import('node:path');
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
        const spec = m[1];
        if (spec.startsWith('.')) {
          const base = resolve(dirname(file), spec);
          visit(existsSync(`${base}.ts`) ? `${base}.ts` : `${base}/index.ts`);
        } else if (
          spec.startsWith('node:') ||
          spec.startsWith('@tensorflow') ||
          ['fs', 'path', 'zlib', 'crypto'].includes(spec)
        ) {
          bad.push(`${file} imports ${spec}`);
        }
      }
    };
    visit(resolve(__dirname, '../../src/algo/registry.ts'));
    expect(seen.size).toBeGreaterThan(5);
    expect(bad).toEqual([]);
  });
});
