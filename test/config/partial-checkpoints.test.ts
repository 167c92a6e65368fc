import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PARTIAL_CHECKPOINT_SECONDS,
  partialCheckpointSecondsFromEnv,
} from '../../activities/training';

describe('ISTAR_PARTIAL_CHECKPOINT_SECONDS', () => {
  it('defaults to 30 s when unset or blank', () => {
    expect(DEFAULT_PARTIAL_CHECKPOINT_SECONDS).toBe(30);
    expect(partialCheckpointSecondsFromEnv({})).toBe(30);
    expect(partialCheckpointSecondsFromEnv({ ISTAR_PARTIAL_CHECKPOINT_SECONDS: ' ' })).toBe(30);
  });

  it('reads seconds, 0 meaning after every step', () => {
    expect(partialCheckpointSecondsFromEnv({ ISTAR_PARTIAL_CHECKPOINT_SECONDS: '0' })).toBe(0);
    expect(partialCheckpointSecondsFromEnv({ ISTAR_PARTIAL_CHECKPOINT_SECONDS: '2.5' })).toBe(2.5);
  });

  it('names a bad value instead of silently never checkpointing', () => {
    for (const bad of ['ten', '-1', 'Infinity'])
      expect(() => partialCheckpointSecondsFromEnv({ ISTAR_PARTIAL_CHECKPOINT_SECONDS: bad })).toThrow(
        `ISTAR_PARTIAL_CHECKPOINT_SECONDS must be a number of seconds >= 0 (0 = after every step), got "${bad}"`,
      );
  });
});
