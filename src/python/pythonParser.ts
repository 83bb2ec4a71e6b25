/**
 * Loads web-tree-sitter and the Python grammar once, lazily, from wherever the caller says the
 * .wasm files are (the extension's dist/ in the host; node_modules or dist/ in tests and the CLI).
 */
import type { Language, Parser, Tree, Edit } from 'web-tree-sitter';
import * as path from 'node:path';
import * as fs from 'node:fs';

/**
 * Nodes that stand among an expression's children but are not part of its value: comments and
 * backslash line continuations (`torch.cat((a, \\` then `b))`), the grammar's extras.
 */
export function isExtraNode(node: { type: string } | null | undefined): boolean {
  return !!node && (node.type === 'comment' || node.type === 'line_continuation');
}

export interface WasmLocations {
  /** web-tree-sitter's runtime: tree-sitter.wasm. */
  treeSitterWasm: string;
  /** The grammar: tree-sitter-python.wasm. */
  pythonWasm: string;
}

/** dist/ next to the running bundle first, then node_modules under `root`. */
export function findWasmLocations(candidates: readonly string[]): WasmLocations {
  for (const dir of candidates) {
    const flat = { treeSitterWasm: path.join(dir, 'tree-sitter.wasm'), pythonWasm: path.join(dir, 'tree-sitter-python.wasm') };
    if (fs.existsSync(flat.treeSitterWasm) && fs.existsSync(flat.pythonWasm)) return flat;
    const modules = {
      treeSitterWasm: path.join(dir, 'node_modules', 'web-tree-sitter', 'tree-sitter.wasm'),
      pythonWasm: path.join(dir, 'node_modules', 'tree-sitter-python', 'tree-sitter-python.wasm'),
    };
    if (fs.existsSync(modules.treeSitterWasm) && fs.existsSync(modules.pythonWasm)) return modules;
  }
  throw new Error(`tree-sitter.wasm and tree-sitter-python.wasm were not found in ${candidates.join(', ')}`);
}

/** Characters handed to the parser per read (see {@link PythonParser.parse}). */
export const PARSE_CHUNK_CHARS = 256;

/** A parser bound to the Python grammar. Not re-entrant: one parse at a time (JS is single-threaded). */
export class PythonParser {
  /** Characters per read; the benchmark compares sizes (`node test/bench/hover.bench.mjs`). */
  chunkChars = PARSE_CHUNK_CHARS;

  constructor(
    private readonly parser: Parser,
    readonly language: Language,
  ) {}

  /** A full parse, or an incremental one when `oldTree` has been edited to match `text`. */
  parse(text: string, oldTree?: Tree): Tree | undefined {
    // Handed a string, web-tree-sitter gives the parser the whole rest of the text at each read and
    // copies up to 10 KiB of it into wasm memory; an incremental parse reads at many places, so the
    // copies dominate. Short chunks: 256 chars measured fastest for full parses of a 5,000-line file.
    const chunk = this.chunkChars;
    const input = (index: number) => text.slice(index, index + chunk);
    return this.parser.parse(input, oldTree ?? null) ?? undefined;
  }
}

const loaded = new Map<string, Promise<PythonParser>>();

/** Loads the runtime and grammar once per location; later calls share the same promise. */
export function loadPythonParser(locations: WasmLocations): Promise<PythonParser> {
  const key = `${locations.treeSitterWasm}\n${locations.pythonWasm}`;
  let promise = loaded.get(key);
  if (!promise) {
    promise = (async () => {
      const treeSitter = await import('web-tree-sitter');
      await treeSitter.Parser.init({ locateFile: () => locations.treeSitterWasm });
      const language = await treeSitter.Language.load(locations.pythonWasm);
      const parser = new treeSitter.Parser();
      parser.setLanguage(language);
      return new PythonParser(parser, language);
    })();
    // A failed load may be retried (e.g. after the files appear).
    promise.catch(() => loaded.delete(key));
    loaded.set(key, promise);
  }
  return promise;
}

export type { Tree, Edit };
