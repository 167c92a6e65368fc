import { describe, expect, it } from 'vitest';
import { SPECIAL_TOKENS, Tokenizer } from '../../src/model';

const SOKOBAN = '#####\n#__O#\n#PX_#\n#_√S#\n#####\n';
const TEXTS = [SOKOBAN, 'Action: up down left right', 'search[red shoes] click[Buy Now] price 42'];

describe('Tokenizer', () => {
  it('starts with the special tokens and is deterministic in the order of texts', () => {
    const a = Tokenizer.fromTexts(TEXTS);
    const b = Tokenizer.fromTexts([...TEXTS].reverse());
    expect(a.vocab.slice(0, 5)).toEqual([...SPECIAL_TOKENS]);
    expect(b.vocab).toEqual(a.vocab);
    expect([a.padId, a.bosId, a.eosId, a.unkId, a.sepId]).toEqual([0, 1, 2, 3, 4]);
  });

  it('tokenizes a Sokoban board one cell per token and words as single tokens', () => {
    const tok = Tokenizer.fromTexts(TEXTS);
    const row = tok.encode('#PX_#');
    expect(row.map((id) => tok.vocab[id])).toEqual(['#', 'P', 'X', '_', '#']);
    expect(tok.encode('#_√S#').map((id) => tok.vocab[id])).toEqual(['#', '_', '√', 'S', '#']);
    for (const w of ['up', 'down', 'search', 'click', 'Buy']) expect(tok.encode(w)).toEqual([tok.id(w)]);
    expect(tok.encode('click[Buy Now]').map((id) => tok.vocab[id])).toEqual([
      'click',
      '[',
      'Buy',
      ' ',
      'Now',
      ']',
    ]);
    // Digits are always single tokens, even those never seen.
    expect(tok.encode('1907').map((id) => tok.vocab[id])).toEqual(['1', '9', '0', '7']);
  });

  it('makes an id of one capital and digits (a WebShop product id) one token; unseen ids are spelled', () => {
    const tok = Tokenizer.fromTexts([...TEXTS, '[B31205] red shoes', 'click[B31205]']);
    expect(tok.encode('click[B31205]').map((id) => tok.vocab[id])).toEqual(['click', '[', 'B31205', ']']);
    expect(tok.encode('B99977').map((id) => tok.vocab[id])).toEqual(['B', '9', '9', '9', '7', '7']);
    expect(tok.decode(tok.encode('click[B99977] B31205'))).toBe('click[B99977] B31205');
    // A capital alone or before letters is as before: 'P' a cell, 'Buy' a word.
    expect(tok.encode('#PX_#').map((id) => tok.vocab[id])).toEqual(['#', 'P', 'X', '_', '#']);
  });

  it('round-trips text and degrades unknown words to characters and unknown characters to <unk>', () => {
    const tok = Tokenizer.fromTexts(TEXTS);
    expect(tok.decode(tok.encode(SOKOBAN))).toBe(SOKOBAN);
    const ids = tok.encode('drown'); // unseen word, all its letters seen
    expect(ids.map((id) => tok.vocab[id])).toEqual(['d', 'r', 'o', 'w', 'n']);
    expect(tok.decode(ids)).toBe('drown');
    expect(tok.encode('€')).toEqual([tok.unkId]);
    expect(tok.encode('<eos>')).not.toContain(tok.eosId); // specials are never produced from text
    expect(tok.encode('up', { bos: true, eos: true })).toEqual([tok.bosId, tok.id('up'), tok.eosId]);
    expect(tok.decode([tok.bosId, tok.id('up')!, tok.sepId, tok.eosId, tok.padId])).toBe('up\n');
  });

  it('survives JSON and rejects out-of-range ids and bad JSON with clear errors', () => {
    const tok = Tokenizer.fromTexts(TEXTS);
    const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.vocab).toEqual(tok.vocab);
    expect(back.encode(SOKOBAN)).toEqual(tok.encode(SOKOBAN));
    expect(() => tok.decode([tok.size])).toThrow(/out of range/);
    expect(() => Tokenizer.fromJSON({ kind: 'x' } as never)).toThrow(/not a tokenizer JSON/);
  });

  it('maxWords keeps the most frequent words', () => {
    const tok = Tokenizer.fromTexts(['up up up down down left'], { maxWords: 2 });
    expect(tok.id('up')).toBeDefined();
    expect(tok.id('down')).toBeDefined();
    expect(tok.id('left')).toBeUndefined();
    expect(tok.decode(tok.encode('left'))).toBe('left');
  });
});
