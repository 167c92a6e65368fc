export * from './actions';
export * from './scenario';
export * from './families';
export * from './partner';
export * from './judge';
export * from './llm';
export * from './env';
