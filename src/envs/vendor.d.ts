// Minimal typings for the untyped wink packages, covering only what src/envs uses.
declare module 'wink-bm25-text-search' {
  interface Bm25Engine {
    defineConfig(config: {
      fldWeights: Record<string, number>;
      bm25Params?: { k1?: number; b?: number; k?: number };
      ovFldNames?: string[];
    }): boolean;
    definePrepTasks(tasks: Array<(input: never) => unknown>, field?: string): number;
    addDoc(doc: Record<string, string>, uniqueId: string | number): number;
    consolidate(fp?: number): boolean;
    search(text: string, limit?: number): Array<[string, number]>;
  }
  function bm25(): Bm25Engine;
  export default bm25;
}

declare module 'wink-nlp-utils' {
  const nlpUtils: {
    string: {
      lowerCase(s: string): string;
      removeExtraSpaces(s: string): string;
      tokenize0(s: string): string[];
      removePunctuations(s: string): string;
    };
    tokens: {
      removeWords(tokens: string[]): string[];
      stem(tokens: string[]): string[];
      propagateNegations(tokens: string[]): string[];
    };
  };
  export default nlpUtils;
}
