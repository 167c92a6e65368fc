/** iStar and its baselines: the paper's equations as pure functions, tensor losses and the algorithm registry. */
export * from './errors';
export * from './stats';
export * from './batch';
export * from './batch-codec';
export * from './preferences';
export * from './episode';
export * from './istar';
export * from './gigpo';
export * from './prime';
export * from './gae';
export * from './advantages';
export * from './baselines';
export * from './rows';
export * from './losses/index';
export * from './registry';
