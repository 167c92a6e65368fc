import { describe, expect, it } from 'vitest';
import { startConfigFromEnv } from '../../src/cli/run-flags';

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
