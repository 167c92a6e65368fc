export * from './setup';
export * from './rows';
export * from './stages';
export * from './train';
export * from './in-process';
