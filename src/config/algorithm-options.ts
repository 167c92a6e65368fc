import type { RunConfig } from './run-config';

/** The algorithm registry's options for a run config (the paper's names map one to one). */
export function algorithmOptions(config: RunConfig): Record<string, unknown> {
  switch (config.algorithm) {
    case 'istar':
      return {
        alpha: config.alpha,
        beta: config.beta,
        episodeEstimator: config.episodeEstimator,
        variant: config.variant === 'istar' ? 'full' : config.variant,
        prmAggregation: config.prmLogRatio,
        prmScoring: config.prmScoring,
        invalidStepCredit: config.invalidStepCredit,
        alphaGate: config.alphaGate,
      };
    case 'gigpo':
      return { gamma: config.gamma, stepWeight: config.gigpoWeight };
    case 'prime':
      return { beta: config.beta };
    case 'ppo':
      return { gamma: config.gamma, gaeLambda: config.gaeLambda };
    default:
      return {};
  }
}
