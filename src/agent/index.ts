export * from './prompt';
export * from './rollout';
export * from './setup';
export * from './types';
