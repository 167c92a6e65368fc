export * from './categories';
export * from './catalog';
export * from './reward';
export * from './goals';
export * from './env';
export * from './expert';
