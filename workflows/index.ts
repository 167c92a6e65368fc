export * from './experiment';
export * from './training';
