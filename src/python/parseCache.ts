/**
 * One syntax tree per open document, kept per version and re-parsed incrementally: each text
 * change edits the old tree (tree.edit) and the new text is parsed against it.
 * Offsets are UTF-16 code units, which is what both VS Code and web-tree-sitter (for JS strings) use.
 */
import type { Tree, Edit } from 'web-tree-sitter';
import { pythonNestingProblem } from './nestingDepth';
import type { PythonParser } from './pythonParser';

/** A change as VS Code reports it: replace `rangeLength` units at `rangeOffset` with `text`. */
export interface TextChange {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

/** Files larger than this are not read: no model definition is this large, and parsing would stall the host. */
export const MAX_PARSE_CHARS = 1024 * 1024;

/** Why a document is not parsed, or undefined when it is fine to parse. */
export function skipReason(text: string): string | undefined {
  if (text.length > MAX_PARSE_CHARS) return `larger than ${MAX_PARSE_CHARS} characters`;
  // A NUL character in the first 8 KiB: binary content opened as text.
  if (text.slice(0, 8192).includes('\u0000')) return 'binary content';
  // Deeper than CPython accepts, and deeper than a walk over the syntax tree could go.
  return pythonNestingProblem(text);
}

interface Entry {
  version: number;
  text: string;
  tree: Tree | undefined;
}

function pointAt(text: string, offset: number): { row: number; column: number } {
  let row = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    row++;
    lineStart = i + 1;
  }
  return { row, column: offset - lineStart };
}

function endPoint(start: { row: number; column: number }, inserted: string): { row: number; column: number } {
  const lastNewline = inserted.lastIndexOf('\n');
  if (lastNewline === -1) return { row: start.row, column: start.column + inserted.length };
  let rows = 0;
  for (let i = inserted.indexOf('\n'); i !== -1; i = inserted.indexOf('\n', i + 1)) rows++;
  return { row: start.row + rows, column: inserted.length - lastNewline - 1 };
}

export class ParseCache {
  private readonly entries = new Map<string, Entry>();
  /** Counts of full and incremental parses, for tests and the benchmark. */
  readonly stats = { full: 0, incremental: 0 };

  constructor(private readonly parser: PythonParser) {}

  /**
   * The tree for `key` at `version`. Reuses the cached tree when the version matches, parses
   * incrementally when `changes` lead from the cached text to `text`, else parses in full.
   * Undefined for documents that are skipped (see {@link skipReason}).
   */
  get(key: string, version: number, text: string, changes?: readonly TextChange[]): Tree | undefined {
    const cached = this.entries.get(key);
    if (cached && cached.version === version && cached.text.length === text.length) return cached.tree;
    if (skipReason(text)) {
      this.drop(key);
      this.entries.set(key, { version, text, tree: undefined });
      return undefined;
    }
    let tree: Tree | undefined;
    if (cached?.tree && changes && changes.length > 0) {
      const edited = this.applyChanges(cached, changes);
      if (edited && edited.text === text) {
        tree = this.parser.parse(text, edited.tree);
        edited.tree.delete();
        this.stats.incremental++;
      } else {
        edited?.tree.delete();
      }
    }
    if (!tree) {
      tree = this.parser.parse(text);
      this.stats.full++;
    }
    cached?.tree?.delete();
    this.entries.set(key, { version, text, tree });
    return tree;
  }

  /** The cached entry, whatever its version (for callers that only need the latest tree). */
  peek(key: string): { version: number; tree: Tree | undefined } | undefined {
    return this.entries.get(key);
  }

  drop(key: string): void {
    this.entries.get(key)?.tree?.delete();
    this.entries.delete(key);
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.drop(key);
  }

  /** Applies the changes in order to a copy of the cached tree and text. */
  private applyChanges(entry: Entry, changes: readonly TextChange[]): { tree: Tree; text: string } | undefined {
    let text = entry.text;
    const tree = entry.tree!.copy();
    for (const change of changes) {
      const start = change.rangeOffset;
      const oldEnd = change.rangeOffset + change.rangeLength;
      if (start < 0 || oldEnd > text.length) {
        tree.delete();
        return undefined;
      }
      const startPosition = pointAt(text, start);
      const edit: Edit = {
        startIndex: start,
        oldEndIndex: oldEnd,
        newEndIndex: start + change.text.length,
        startPosition,
        oldEndPosition: pointAt(text, oldEnd),
        newEndPosition: endPoint(startPosition, change.text),
      };
      tree.edit(edit);
      text = text.slice(0, start) + change.text + text.slice(oldEnd);
    }
    return { tree, text };
  }
}
