/**
 * What the editor keeps per open Python document, without `vscode`: its syntax tree (re-parsed
 * incrementally from the text changes), its import table (carried across versions), the hover's
 * focused analyses of the current version and the whole file's reading. The editor adapter
 * (src/editor/pythonDocuments.ts) and the hover benchmark drive the same object.
 */
import type { Tree } from 'web-tree-sitter';
import type { PythonParser } from './pythonParser';
import { ParseCache, type TextChange } from './parseCache';
import { ImportTable, readModelCode, type ModelCode } from './modelCode';
import { analyzeAt, convCallAt, type FocusedAnalysis } from './pythonAnalysis';
import type { EstimateSettings } from './layerEstimates';

/** A document as the reader sees it: a key, a version and a way to get the text of that version. */
export interface DocumentVersion {
  key: string;
  version: number;
  getText(): string;
}

export class DocumentReader {
  private readonly cache: ParseCache;
  /** Text changes not yet applied to the cached tree, in order. */
  private readonly pending = new Map<string, TextChange[]>();
  private readonly imports = new Map<string, { version: number; table: ImportTable }>();
  /** The hover analyses of a document's current version (one per Sequential or lone call asked about). */
  private readonly focused = new Map<string, { version: number; settings: EstimateSettings; list: FocusedAnalysis[] }>();
  private readonly code = new Map<string, { version: number; code: ModelCode | undefined }>();

  constructor(parser: PythonParser) {
    this.cache = new ParseCache(parser);
  }

  /** Counts of full and incremental parses. */
  get stats(): { full: number; incremental: number } {
    return this.cache.stats;
  }

  /** Records a document's text changes (in version order) for the next parse. Cheap: parses nothing. */
  noteChanges(key: string, changes: readonly TextChange[]): void {
    const list = this.pending.get(key);
    if (list) list.push(...changes);
    else this.pending.set(key, [...changes]);
  }

  /** Whether the tree and import table of this version are ready (a hover would not parse). */
  isRead(document: DocumentVersion): boolean {
    return this.cache.peek(document.key)?.version === document.version && this.imports.get(document.key)?.version === document.version;
  }

  /**
   * The tree of the document at its version, with its import table: parsed incrementally from the
   * noted changes when the cached tree is older, taken from the cache when it is this version.
   * Undefined for documents that are not read (too large, binary).
   */
  read(document: DocumentVersion): { tree: Tree; imports: ImportTable } | undefined {
    const { key, version } = document;
    const before = this.cache.peek(key)?.version;
    let tree: Tree | undefined;
    try {
      tree = this.cache.get(key, version, document.getText(), before === version ? undefined : this.pending.get(key));
    } finally {
      // Whatever happened, the changes are spent: the cache now holds this version (or nothing).
      if (this.cache.peek(key)?.version === version) this.pending.delete(key);
    }
    if (!tree) return undefined;
    let imports = this.imports.get(key);
    if (!imports || imports.version !== version) {
      const delta = before !== version && imports?.version === before ? this.cache.peek(key)?.delta : undefined;
      imports = { version, table: imports && delta ? imports.table.update(tree, delta) : ImportTable.read(tree) };
      this.imports.set(key, imports);
    }
    return { tree, imports: imports.table };
  }

  /**
   * The hover's analysis: the conv call at `offset` (UTF-16) and its Sequential only, cached per
   * version and settings. Parses only when this version has not been parsed yet.
   */
  analysisAt(document: DocumentVersion, offset: number, settings: EstimateSettings): FocusedAnalysis | undefined {
    const { key, version } = document;
    let cached = this.focused.get(key);
    if (!cached || cached.version !== version || cached.settings !== settings) {
      cached = { version, settings, list: [] };
      this.focused.set(key, cached);
    }
    for (const focused of cached.list) {
      const index = convCallAt(focused.analysis.code, offset);
      if (index !== undefined) return { analysis: focused.analysis, call: index };
    }
    const read = this.read(document);
    const focused = read && analyzeAt(read.tree, document.getText(), offset, settings, read.imports);
    if (focused) cached.list.push(focused);
    return focused;
  }

  /** The whole file's reading at the document's version (settings-independent), cached per version. */
  modelCode(document: DocumentVersion): ModelCode | undefined {
    const cached = this.code.get(document.key);
    if (cached && cached.version === document.version) return cached.code;
    const read = this.read(document);
    const code = { version: document.version, code: read ? readModelCode(read.tree) : undefined };
    this.code.set(document.key, code);
    return code.code;
  }

  /** Forgets the settings-dependent analyses (after a settings change). */
  clearAnalyses(): void {
    this.focused.clear();
  }

  /** Forgets everything about a document: the next read parses it in full. */
  forget(key: string): void {
    this.cache.drop(key);
    this.pending.delete(key);
    this.imports.delete(key);
    this.focused.delete(key);
    this.code.delete(key);
  }

  clear(): void {
    for (const key of [...this.imports.keys(), ...this.pending.keys(), ...this.code.keys()]) this.forget(key);
    this.cache.clear();
  }
}
