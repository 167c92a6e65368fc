export * from './common';
export * from './prm';
export * from './ppo';
