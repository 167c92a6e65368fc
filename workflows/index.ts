export * from './experiment';
export * from './training';
export * from './sweep';
export * from './extend';
