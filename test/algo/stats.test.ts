import { describe, expect, it } from 'vitest';
import { rocAuc } from '../../src/algo/stats';

describe('rocAuc', () => {
  it('is the share of (positive, negative) pairs ranked right, ties counting one half', () => {
    // Pairs (0.35, 0.1) right, (0.35, 0.4) wrong, (0.8, 0.1) and (0.8, 0.4) right: 3 / 4.
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.75, 12);
    // Positives {1, 2}, negative {1}: a tie (1/2) and a right pair (1): 1.5 / 2.
    expect(rocAuc([1, 1, 2], [true, false, true])).toBeCloseTo(0.75, 12);
    expect(rocAuc([3, 3, 3, 3], [true, false, true, false])).toBe(0.5);
    expect(rocAuc([5, 4, 1], [false, false, true])).toBe(0);
  });

  it('is NaN without both classes and refuses mismatched lengths', () => {
    expect(rocAuc([1, 2], [true, true])).toBeNaN();
    expect(() => rocAuc([1, 2], [true])).toThrow('rocAuc: 2 scores but 1 labels');
  });
});
