export * from './types';
export * from './prng';
export * from './registry';
export * from './demonstrations';
export * as sokoban from './sokoban';
export { SokobanEnv, sokobanSpec, sokobanVisualSpec } from './sokoban/env';
export * as webshop from './webshop';
export { WebShopEnv, webshopSpec } from './webshop/env';
