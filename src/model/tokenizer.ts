/**
 * A small word/character vocabulary built deterministically from an environment's text.
 * Words are runs of lowercase letters with at most one leading capital ("up", "Search"), and identifiers
 * of one capital and digits ("B31205", a WebShop product id: one token, so a policy copies it in one step
 * instead of six; docs/results.md, finding 19); everything else is one token per character, so a Sokoban
 * board row "#PX_#" is one token per cell and other digits are single tokens. Unknown words and ids
 * degrade to characters, unknown characters to <unk>.
 */
export const SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>', '<unk>', '<sep>'] as const;

const PIECE = /[A-Z]\d+|[A-Z]?[a-z]+|[\s\S]/gu;
const WORD = /^(?:[A-Z]?[a-z]+|[A-Z]\d+)$/u;
const DIGITS = '0123456789';

export interface TokenizerJSON {
  kind: 'istar-word-char';
  vocab: string[];
}

export interface TokenizerOptions {
  /** Keep only the most frequent words (ties broken alphabetically). Default: all. */
  maxWords?: number;
  /** Words seen fewer times are dropped (they degrade to characters). Default 1. */
  minCount?: number;
}

export class Tokenizer {
  readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;

  private constructor(vocab: string[]) {
    for (let i = 0; i < SPECIAL_TOKENS.length; i++) {
      if (vocab[i] !== SPECIAL_TOKENS[i])
        throw new Error(`tokenizer vocab must start with ${SPECIAL_TOKENS.join(' ')}`);
    }
    this.vocab = Object.freeze([...vocab]);
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    if (this.ids.size !== vocab.length) throw new Error('tokenizer vocab has duplicate entries');
  }

  /** Same texts (in any order) and options -> same vocabulary. */
  static fromTexts(texts: Iterable<string>, options: TokenizerOptions = {}): Tokenizer {
    const words = new Map<string, number>();
    const chars = new Set<string>(DIGITS);
    for (const text of texts) {
      for (const piece of text.match(PIECE) ?? []) {
        if (WORD.test(piece) && piece.length > 1) words.set(piece, (words.get(piece) ?? 0) + 1);
        else for (const ch of piece) chars.add(ch);
        // Characters of words too, so an unseen word can always be spelled.
        if (WORD.test(piece)) for (const ch of piece) chars.add(ch);
      }
    }
    const minCount = options.minCount ?? 1;
    const byFreq = [...words.entries()]
      .filter(([, n]) => n >= minCount)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, options.maxWords ?? Infinity)
      .map(([w]) => w)
      .sort();
    const charList = [...chars].sort();
    return new Tokenizer([...SPECIAL_TOKENS, ...charList, ...byFreq]);
  }

  static fromJSON(json: TokenizerJSON): Tokenizer {
    if (!json || json.kind !== 'istar-word-char' || !Array.isArray(json.vocab)) {
      throw new Error('not a tokenizer JSON (expected { kind: "istar-word-char", vocab: string[] })');
    }
    return new Tokenizer(json.vocab);
  }

  toJSON(): TokenizerJSON {
    return { kind: 'istar-word-char', vocab: [...this.vocab] };
  }

  get size(): number {
    return this.vocab.length;
  }
  get padId(): number {
    return 0;
  }
  get bosId(): number {
    return 1;
  }
  get eosId(): number {
    return 2;
  }
  get unkId(): number {
    return 3;
  }
  get sepId(): number {
    return 4;
  }

  /** Id of one token string (a word, a character or a special like "<eos>"), or undefined. */
  id(token: string): number | undefined {
    return this.ids.get(token);
  }

  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    const out: number[] = [];
    if (options.bos) out.push(this.bosId);
    for (const piece of text.match(PIECE) ?? []) {
      const id = this.ids.get(piece);
      if (id !== undefined && (piece.length > 1 || !SPECIAL_TOKENS.includes(piece as never))) {
        out.push(id);
        continue;
      }
      for (const ch of piece) out.push(this.ids.get(ch) ?? this.unkId);
    }
    if (options.eos) out.push(this.eosId);
    return out;
  }

  /** Text of the ids; pad/bos/eos are dropped, <sep> becomes a newline, <unk> stays visible. */
  decode(ids: readonly number[]): string {
    let s = '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) {
        throw new Error(`token id ${id} is out of range [0, ${this.vocab.length})`);
      }
      if (id === this.padId || id === this.bosId || id === this.eosId) continue;
      s += id === this.sepId ? '\n' : this.vocab[id];
    }
    return s;
  }
}
