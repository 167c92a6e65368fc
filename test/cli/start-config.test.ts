import { describe, expect, it } from 'vitest';
import { runConfigFromFlags, startConfigFromEnv } from '../../src/cli/run-flags';

describe('ISTAR_START_CONFIG (npm start overrides)', () => {
  it('reads a JSON object; unset or blank is no override', () => {
    expect(startConfigFromEnv('{"iterations":2,"env":"webshop"}')).toEqual({ iterations: 2, env: 'webshop' });
    expect(startConfigFromEnv(undefined)).toEqual({});
    expect(startConfigFromEnv('  ')).toEqual({});
  });

  it('names the variable when the JSON is broken or not an object', () => {
    expect(() => startConfigFromEnv('{"iterations":')).toThrow(
      /^ISTAR_START_CONFIG is not valid JSON \(.+\): \{"iterations":$/,
    );
    expect(() => startConfigFromEnv('[1,2]')).toThrow(
      'ISTAR_START_CONFIG must be a JSON object of run-config fields, got [1,2]',
    );
    expect(() => startConfigFromEnv('3')).toThrow(
      'ISTAR_START_CONFIG must be a JSON object of run-config fields, got 3',
    );
  });
});

describe('run flags', () => {
  it('override --config field by field: --max-steps sets the episode budget', () => {
    const { input, config } = runConfigFromFlags({
      config: '{"env":"webshop","maxSteps":8}',
      maxSteps: 12,
      seed: 4,
    });
    expect(input).toMatchObject({ env: 'webshop', maxSteps: 12, seed: 4 });
    expect([config.env, config.maxSteps, config.seed]).toEqual(['webshop', 12, 4]);
    expect(runConfigFromFlags({ config: '{"maxSteps":8}' }).config.maxSteps).toBe(8);
  });
});
