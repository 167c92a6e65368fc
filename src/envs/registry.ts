import type { EnvSpec } from './types';
import { sokobanSpec, sokobanVisualSpec } from './sokoban/env';
import { socialSpec } from './social/env';
import { webshopSpec } from './webshop/env';

/**
 * Environments by name. Registering a name twice is an error, and looking up an unknown name
 * lists the valid ones (as verl's registries do).
 */
export class EnvRegistry {
  private readonly specs = new Map<string, EnvSpec>();

  register(spec: EnvSpec): void {
    if (this.specs.has(spec.name)) {
      throw new Error(`Env "${spec.name}" is already registered; pick another name.`);
    }
    const { trainSeeds: t, heldOutSeeds: h } = spec;
    if (t.start < t.end && h.start < h.end && t.start < h.end && h.start < t.end) {
      throw new Error(
        `Env "${spec.name}": train seeds [${t.start}, ${t.end}) overlap held-out seeds [${h.start}, ${h.end}).`,
      );
    }
    this.specs.set(spec.name, spec);
  }

  get(name: string): EnvSpec {
    const spec = this.specs.get(name);
    if (!spec) {
      throw new Error(`Unknown env "${name}". Valid names: ${this.names().join(', ')}.`);
    }
    return spec;
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  names(): string[] {
    return [...this.specs.keys()].sort();
  }
}

/** The built-in environments: sokoban, sokoban-visual, webshop, social. */
export const envRegistry = new EnvRegistry();
for (const spec of [sokobanSpec, sokobanVisualSpec, webshopSpec, socialSpec]) envRegistry.register(spec);

/** Shorthand for envRegistry.get(name); unknown names list the valid ones. */
export function getEnvSpec(name: string): EnvSpec {
  return envRegistry.get(name);
}
