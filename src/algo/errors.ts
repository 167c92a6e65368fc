/**
 * Bad input to an algorithm function: wrong shapes, NaN rewards, empty groups, unknown names.
 * Never worth retrying; the message says what was wrong and where.
 */
export class AlgoInputError extends Error {
  override name = 'AlgoInputError';
}

/** Throws an AlgoInputError; the message is only built when the check fails. */
export function check(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new AlgoInputError(message());
}

/** Checks that every entry of `xs` is a finite number. `what` names the array in the error. */
export function checkFinite(xs: readonly number[], what: string): void {
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new AlgoInputError(`${what}[${i}] is ${String(x)}; expected a finite number`);
    }
  }
}
