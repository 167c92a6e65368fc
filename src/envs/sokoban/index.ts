export * from './room';
export * from './solver';
export * from './generate';
export * from './image';
export * from './env';
