import { describe, expect, it } from 'vitest';
import { SokobanEnv, parseSokobanAction, sokobanSpec, sokobanVisualSpec } from '../../src/envs/sokoban/env';
import { generateRoom } from '../../src/envs/sokoban/generate';
import { PALETTE, TILE } from '../../src/envs/sokoban/image';
import { TARGET, WALL, parseRoom, renderText } from '../../src/envs/sokoban/room';
import { solve } from '../../src/envs/sokoban/solver';
import { MALFORMED_ACTIONS } from './malformed';

function envWith(text: string): SokobanEnv {
  const env = new SokobanEnv();
  env.resetToRoom(parseRoom(text));
  return env;
}

describe('sokoban rules on hand-built rooms', () => {
  it('moves, bumps walls and pays -0.1 per step', () => {
    const env = envWith(`
      #####
      #P__#
      #_XO#
      #####`);
    let r = env.step('up');
    expect(r.info.valid).toBe(true);
    expect(r.reward).toBeCloseTo(-0.1);
    expect(r.observation).toBe(['#####', '#P__#', '#_XO#', '#####'].join('\n'));
    r = env.step('right');
    expect(r.reward).toBeCloseTo(-0.1);
    expect(r.observation.split('\n')[1]).toBe('#_P_#');
  });

  it('pushing the box onto the target solves: -0.1 + 1 + 10', () => {
    const env = envWith(`
      #####
      #PXO#
      #####`);
    const r = env.step('right');
    expect(r.reward).toBeCloseTo(10.9);
    expect(r.done).toBe(true);
    expect(r.info.won).toBe(true);
    expect(r.observation.split('\n')[1]).toBe('#_P√#');
  });

  it('box onto a target without solving gives +1, off a target -1', () => {
    const env = envWith(`
      #######
      #PXO__#
      #__X_O#
      #######`);
    let r = env.step('right');
    expect(r.reward).toBeCloseTo(0.9);
    expect(r.done).toBe(false);
    r = env.step('right');
    expect(r.reward).toBeCloseTo(-1.1);
    expect(r.observation.split('\n')[1]).toBe('#__SX_#');
  });

  it('cannot push into a wall or into a second box', () => {
    const env = envWith(`
      ######
      #PXX_#
      #__X##
      #_OO_#
      ######`);
    const before = env.anchor();
    const r = env.step('right');
    expect(r.info.valid).toBe(true);
    expect(r.reward).toBeCloseTo(-0.1);
    expect(env.anchor()).toBe(before);
    env.step('down');
    env.step('right');
    expect(env.anchor()).toBe(['######', '#_XX_#', '#_PX##', '#_OO_#', '######'].join('\n'));
    env.step('right');
    expect(env.anchor()).toBe(['######', '#_XX_#', '#_PX##', '#_OO_#', '######'].join('\n'));
  });

  it('player on target renders S and the text round-trips', () => {
    const text = ['#####', '#S_X#', '#_O_#', '#####'].join('\n');
    expect(renderText(parseRoom(text))).toBe(text);
  });

  it('ends after 15 steps', () => {
    const env = envWith(`
      #####
      #P__#
      #_XO#
      #####`);
    let r = env.step('left');
    for (let i = 1; i < 15; i++) {
      expect(r.done).toBe(false);
      r = env.step('left');
    }
    expect(r.done).toBe(true);
    expect(r.info.won).toBe(false);
    expect(r.info.score).toBeCloseTo(-1.5);
  });
});

describe('sokoban actions', () => {
  it('parses the action word leniently but strictly', () => {
    for (const ok of ['up', ' UP ', 'Down', '"left"', "'right'", 'up.', '[up]'])
      expect(parseSokobanAction(ok)).not.toBeNull();
    for (const bad of ['go up', 'upp', 'up down', 'move up', '', 'u', 'push'])
      expect(parseSokobanAction(bad)).toBeNull();
  });

  it('malformed actions are invalid steps: state unchanged, -0.1, never throws', () => {
    const env = new SokobanEnv();
    env.reset(3);
    for (const bad of MALFORMED_ACTIONS) {
      env.reset(3);
      const before = env.anchor();
      const r = env.step(bad);
      expect(r.info.valid).toBe(false);
      expect(r.reward).toBeCloseTo(-0.1);
      expect(env.anchor()).toBe(before);
    }
  });
});

describe('sokoban generation', () => {
  const N = 1000;
  const levels = Array.from({ length: N }, (_, seed) => generateRoom(seed));

  it(`${N} generated levels are valid: one player, one box, one target, closed walls`, () => {
    for (const room of levels) {
      expect(room.width).toBe(6);
      expect(room.height).toBe(6);
      expect(room.boxes).toHaveLength(1);
      expect([...room.structure].filter((k) => k === TARGET)).toHaveLength(1);
      expect(room.structure[room.player]).not.toBe(WALL);
      expect(room.boxes[0]).not.toBe(room.player);
      expect(room.structure[room.boxes[0]]).not.toBe(TARGET);
      for (let i = 0; i < 6; i++) {
        for (const cell of [i, 30 + i, i * 6, i * 6 + 5]) expect(room.structure[cell]).toBe(WALL);
      }
      const text = renderText(room);
      expect([...text].filter((c) => c === 'P' || c === 'S')).toHaveLength(1);
    }
  });

  it('reports the share solvable within 15 steps, and the expert solves every solvable level', () => {
    const env = new SokobanEnv();
    let solvable = 0;
    let expertWins = 0;
    const lengths: number[] = [];
    for (let seed = 0; seed < N; seed++) {
      const plan = solve(levels[seed], 15);
      if (!plan) continue;
      solvable++;
      lengths.push(plan.length);
      env.reset(seed);
      let r = env.step(env.expertAction());
      while (!r.done) r = env.step(env.expertAction());
      if (r.info.won) expertWins++;
    }
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    console.log(
      `[sokoban] solvable within 15 steps: ${solvable}/${N} = ${((100 * solvable) / N).toFixed(1)}%; expert solved ${expertWins}/${solvable}; mean optimal length ${mean.toFixed(2)}`,
    );
    expect(solvable).toBeGreaterThan(0.9 * N);
    expect(expertWins).toBe(solvable);
  });

  it('same seed -> same level; seeds differ', () => {
    expect(renderText(generateRoom(123))).toBe(renderText(generateRoom(123)));
    const distinct = new Set(levels.slice(0, 200).map(renderText));
    expect(distinct.size).toBeGreaterThan(150);
    const env = sokobanSpec.create();
    expect(env.reset(70_000)).toBe(sokobanSpec.create().reset(70_000));
  });
});

describe('sokoban-visual', () => {
  it('renders 96x96 RGB with distinct colours per cell type', () => {
    const env = sokobanVisualSpec.create();
    expect(env.reset(5)).toBe('<image>');
    const img = env.image!();
    expect([img.height, img.width, img.channels]).toEqual([96, 96, 3]);
    expect(img.data.length).toBe(96 * 96 * 3);
    expect(Math.min(...img.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...img.data)).toBeLessThanOrEqual(1);
    const colours = new Set(Object.values(PALETTE).map((c) => c.join(',')));
    expect(colours.size).toBe(7);
    // The centre pixel of each tile has its cell type's colour.
    const rows = env.anchor().split('\n');
    const bySymbol: Record<string, readonly number[]> = {
      '#': PALETTE.wall,
      _: PALETTE.floor,
      O: PALETTE.target,
      X: PALETTE.box,
      '√': PALETTE.boxOnTarget,
      P: PALETTE.player,
      S: PALETTE.playerOnTarget,
    };
    rows.forEach((row, r) =>
      [...row].forEach((sym, c) => {
        const o = ((r * TILE + 8) * 96 + c * TILE + 8) * 3;
        expect([img.data[o], img.data[o + 1], img.data[o + 2]].map((v) => v.toFixed(3))).toEqual(
          bySymbol[sym].map((v) => v.toFixed(3)),
        );
      }),
    );
  });
});
