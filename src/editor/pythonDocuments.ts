/**
 * The analyses of each open Python document. Loads the parser when a Python document is first
 * opened (off the hover's path) or asked about; parses incrementally from the change events.
 * Two kinds of analysis: the hover's (and the quick fix's), which reads only the conv call under
 * the cursor and its Sequential, cached per version, so that its cost does not grow with the file;
 * and the whole file's (CodeLens, diagnostics), computed only once typing has paused.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { loadPythonParser, findWasmLocations, type PythonParser } from '../python/pythonParser';
import { ParseCache, type TextChange } from '../python/parseCache';
import { analyzeAt, analyzeCode, convCallAt, type FocusedAnalysis, type PythonAnalysis } from '../python/pythonAnalysis';
import { ImportTable, readModelCode, type ModelCode } from '../python/modelCode';
import type { Tree } from '../python/pythonParser';
import { DEFAULT_SETTINGS, type EstimateSettings } from '../python/layerEstimates';
import { CONVENTIONS, DTYPES, type Convention, type Dtype } from '../shared/cost';

export const PYTHON_SELECTOR: vscode.DocumentSelector = [
  { language: 'python', scheme: 'file' },
  { language: 'python', scheme: 'untitled' },
  { language: 'python', scheme: 'vscode-notebook-cell' },
];

export function readSettings(): EstimateSettings {
  const config = vscode.workspace.getConfiguration('sepconv');
  const convention = config.get<string>('convention');
  const dtype = config.get<string>('dtype');
  const size = config.get<unknown>('defaultInputSize');
  const validSize = Array.isArray(size) && size.length === 2 && size.every((n) => Number.isInteger(n) && n >= 1 && n <= 16384);
  return {
    convention: CONVENTIONS.includes(convention as Convention) ? (convention as Convention) : DEFAULT_SETTINGS.convention,
    dtype: DTYPES.includes(dtype as Dtype) ? (dtype as Dtype) : DEFAULT_SETTINGS.dtype,
    defaultInputSize: validSize ? [size[0] as number, size[1] as number] : DEFAULT_SETTINGS.defaultInputSize,
  };
}

/** The whole-file analysis waits for typing to pause this long: it reads every call of the file. */
export const SETTLE_DELAY_MS = 300;

export class PythonDocuments implements vscode.Disposable {
  private parser: Promise<PythonParser | undefined> | undefined;
  private cache: ParseCache | undefined;
  private readonly code = new Map<string, { version: number; code: ModelCode | undefined }>();
  private readonly analyses = new Map<string, { version: number; settings: EstimateSettings; analysis: PythonAnalysis | undefined }>();
  private readonly pending = new Map<string, TextChange[]>();
  /** Per document: its import table, for the version it was read at. */
  private readonly imports = new Map<string, { version: number; table: ImportTable }>();
  /** Per document: the hover analyses of its current version (one per Sequential or lone call asked about). */
  private readonly focused = new Map<string, { version: number; settings: EstimateSettings; list: FocusedAnalysis[] }>();
  /** Per document: when it last changed (ms, performance.now()). */
  private readonly lastChange = new Map<string, number>();
  private settings = readSettings();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the settings change (lenses, diagnostics refresh). */
  readonly onDidChange = this.changed.event;

  constructor(private readonly extensionPath: string) {
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document.languageId !== 'python' || event.contentChanges.length === 0) return;
        const key = event.document.uri.toString();
        const list = this.pending.get(key) ?? [];
        // Changes of one event are applied in order; events arrive in version order.
        list.push(...event.contentChanges.map((c) => ({ rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text })));
        this.pending.set(key, list);
        this.lastChange.set(key, performance.now());
      }),
      vscode.workspace.onDidOpenTextDocument((document) => this.warm(document)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration('sepconv')) return;
        this.settings = readSettings();
        this.analyses.clear();
        this.focused.clear();
        this.changed.fire();
      }),
    );
  }

  get currentSettings(): EstimateSettings {
    return this.settings;
  }

  private loadParser(): Promise<PythonParser | undefined> {
    this.parser ??= loadPythonParser(findWasmLocations([path.join(this.extensionPath, 'dist'), this.extensionPath])).then(
      (parser) => {
        this.cache = new ParseCache(parser);
        return parser;
      },
      (error: unknown) => {
        console.error(`SepConv Lab: the Python parser could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      },
    );
    return this.parser;
  }

  /**
   * Loads the parser and parses the document, so that the first hover finds both ready. Called
   * when a Python document opens; runs after the current task, never on a provider's path.
   */
  warm(document: vscode.TextDocument): void {
    if (document.languageId !== 'python') return;
    setTimeout(() => {
      void this.loadParser().then((parser) => {
        if (parser && !document.isClosed) this.treeOf(document);
      });
    }, 0);
  }

  /** Resolves once `document` has not changed for {@link SETTLE_DELAY_MS}; false if cancelled first. */
  async settled(document: vscode.TextDocument, token?: vscode.CancellationToken): Promise<boolean> {
    const key = document.uri.toString();
    for (;;) {
      if (token?.isCancellationRequested) return false;
      const wait = (this.lastChange.get(key) ?? 0) + SETTLE_DELAY_MS - performance.now();
      if (wait <= 0) return !token?.isCancellationRequested;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** The tree of the document at its current version (parsed incrementally), with its import table. */
  private treeOf(document: vscode.TextDocument): { tree: Tree; imports: ImportTable } | undefined {
    if (!this.cache) return undefined;
    const key = document.uri.toString();
    const before = this.cache.peek(key)?.version;
    const changes = this.pending.get(key);
    let tree: Tree | undefined;
    try {
      tree = this.cache.get(key, document.version, document.getText(), changes);
    } finally {
      // Whatever happened, the changes are spent: the cache now holds this version (or nothing).
      if (this.cache.peek(key)?.version === document.version) this.pending.delete(key);
    }
    if (!tree) return undefined;
    let imports = this.imports.get(key);
    if (!imports || imports.version !== document.version) {
      const delta = before !== document.version && imports?.version === before ? this.cache.peek(key)?.delta : undefined;
      imports = { version: document.version, table: imports && delta ? imports.table.update(tree, delta) : ImportTable.read(tree) };
      this.imports.set(key, imports);
    }
    return { tree, imports: imports.table };
  }

  /**
   * The hover's analysis: the conv call at `offset` and its Sequential only (its figures are those
   * of the whole-file analysis). Undefined when there is no conv call there or the document cannot be read.
   */
  async analysisAt(document: vscode.TextDocument, offset: number): Promise<FocusedAnalysis | undefined> {
    if (!(await this.loadParser()) || !this.cache) return undefined;
    const key = document.uri.toString();
    let cached = this.focused.get(key);
    if (!cached || cached.version !== document.version || cached.settings !== this.settings) {
      cached = { version: document.version, settings: this.settings, list: [] };
      this.focused.set(key, cached);
    }
    for (const focused of cached.list) {
      const index = convCallAt(focused.analysis.code, offset);
      if (index !== undefined) return { analysis: focused.analysis, call: index };
    }
    try {
      const read = this.treeOf(document);
      const focused = read && analyzeAt(read.tree, document.getText(), offset, this.settings, read.imports);
      if (focused) cached.list.push(focused);
      return focused;
    } catch (error) {
      // A reader bug must not surface as an editor error: log it, show nothing.
      console.error(`SepConv Lab: could not read ${key} at ${offset}: ${error instanceof Error ? error.stack : String(error)}`);
      this.cache.drop(key);
      this.imports.delete(key);
      return undefined;
    }
  }

  /** The whole file's analysis (CodeLens, diagnostics) at the current version, or undefined when it cannot be read. */
  async analysis(document: vscode.TextDocument): Promise<PythonAnalysis | undefined> {
    if (!(await this.loadParser()) || !this.cache) return undefined;
    const key = document.uri.toString();
    const cached = this.analyses.get(key);
    if (cached && cached.version === document.version && cached.settings === this.settings) return cached.analysis;
    let code = this.code.get(key);
    if (!code || code.version !== document.version) {
      try {
        const read = this.treeOf(document);
        code = { version: document.version, code: read ? readModelCode(read.tree) : undefined };
      } catch (error) {
        // A reader bug must not surface as an editor error: log it, show nothing.
        console.error(`SepConv Lab: could not read ${key}: ${error instanceof Error ? error.stack : String(error)}`);
        this.cache.drop(key);
        this.imports.delete(key);
        code = { version: document.version, code: undefined };
      }
      this.code.set(key, code);
    }
    let analysis: PythonAnalysis | undefined;
    try {
      analysis = code.code ? analyzeCode(code.code, this.settings) : undefined;
    } catch (error) {
      console.error(`SepConv Lab: could not cost ${key}: ${error instanceof Error ? error.stack : String(error)}`);
    }
    this.analyses.set(key, { version: document.version, settings: this.settings, analysis });
    return analysis;
  }

  private forget(key: string): void {
    this.cache?.drop(key);
    this.code.delete(key);
    this.analyses.delete(key);
    this.pending.delete(key);
    this.imports.delete(key);
    this.focused.delete(key);
    this.lastChange.delete(key);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.cache?.clear();
  }
}

export function toRange(span: { startLine: number; startColumn: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(span.startLine, span.startColumn, span.endLine, span.endColumn);
}
