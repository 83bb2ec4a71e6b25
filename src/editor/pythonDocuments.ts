/**
 * The analyses of each open Python document. Loads the parser when a Python document is first
 * opened (off the hover's path) or asked about; re-parses incrementally shortly after each change
 * (bursts coalesced), so that a hover normally finds the tree of its version ready.
 * Two kinds of analysis: the hover's (and the quick fix's), which reads only the conv call under
 * the cursor and its Sequential, cached per version, so that its cost does not grow with the file;
 * and the whole file's (CodeLens, diagnostics), computed only once typing has paused.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { loadPythonParser, findWasmLocations, type PythonParser } from '../python/pythonParser';
import { DocumentReader, type DocumentVersion } from '../python/documentReader';
import { analyzeCode, type FocusedAnalysis, type PythonAnalysis } from '../python/pythonAnalysis';
import { DEFAULT_SETTINGS, type EstimateSettings } from '../python/layerEstimates';
import { CONVENTIONS, DTYPES, type Convention, type Dtype } from '../shared/cost';
import { fileSiteRows, type FileRows } from '../python/siteRows';
import { DEFAULT_LIMITS } from '../python/modelEvaluator';
import { WorkspaceImports } from './workspaceImports';

/** The editor's bounds on one evaluation: it runs on the extension host's thread. */
const EDITOR_LIMITS = { ...DEFAULT_LIMITS, maxSteps: 2_000_000, maxMillis: 2000 };

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

/**
 * The re-parse waits this long after a change, so that a burst of keystrokes (key repeat is ~30 ms
 * apart) costs one parse, yet the tree is ready long before a hover (VS Code waits 300 ms).
 */
export const PARSE_DELAY_MS = 30;

function versionOf(document: vscode.TextDocument): DocumentVersion {
  return { key: document.uri.toString(), version: document.version, getText: () => document.getText() };
}

export class PythonDocuments implements vscode.Disposable {
  private parser: Promise<PythonParser | undefined> | undefined;
  private reader: DocumentReader | undefined;
  private imports: WorkspaceImports | undefined;
  /** Per document: the evaluation of a version (under the settings and the imported files it was made with). */
  private readonly evaluations = new Map<string, { version: number; settings: EstimateSettings; generation: number; rows: Promise<FileRows | undefined> }>();
  private readonly analyses = new Map<string, { version: number; settings: EstimateSettings; analysis: PythonAnalysis | undefined }>();
  /** Per document: when it last changed (ms, performance.now()). */
  private readonly lastChange = new Map<string, number>();
  /** Per document: the pending re-parse after its last change. */
  private readonly parseTimers = new Map<string, ReturnType<typeof setTimeout>>();
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
        // Changes of one event are applied in order; events arrive in version order.
        this.reader?.noteChanges(key, event.contentChanges.map((c) => ({ rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text })));
        this.lastChange.set(key, performance.now());
        this.scheduleParse(event.document);
      }),
      vscode.workspace.onDidOpenTextDocument((document) => this.warm(document)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration('sepconv')) return;
        this.settings = readSettings();
        this.analyses.clear();
        this.evaluations.clear();
        this.reader?.clearAnalyses();
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
        this.reader = new DocumentReader(parser);
        this.imports = new WorkspaceImports(parser);
        this.disposables.push(this.imports, this.imports.onDidChange(() => this.changed.fire()));
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
        if (parser && !document.isClosed) this.readQuietly(document);
      });
    }, 0);
  }

  /** Re-parses the document {@link PARSE_DELAY_MS} after its last change (not on the keystroke's path). */
  private scheduleParse(document: vscode.TextDocument): void {
    const key = document.uri.toString();
    clearTimeout(this.parseTimers.get(key));
    this.parseTimers.set(key, setTimeout(() => {
      this.parseTimers.delete(key);
      if (!document.isClosed && this.reader) this.readQuietly(document);
    }, PARSE_DELAY_MS));
  }

  /** Parses the current version ahead of any request; a reader error is logged and the document dropped. */
  private readQuietly(document: vscode.TextDocument): void {
    const key = document.uri.toString();
    try {
      this.reader?.read(versionOf(document));
    } catch (error) {
      console.error(`SepConv Lab: could not parse ${key}: ${error instanceof Error ? error.stack : String(error)}`);
      this.reader?.forget(key);
    }
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

  /**
   * The hover's analysis: the conv call at `offset` and its Sequential only (its figures are those
   * of the whole-file analysis). Undefined when there is no conv call there or the document cannot be read.
   */
  async analysisAt(document: vscode.TextDocument, offset: number): Promise<FocusedAnalysis | undefined> {
    if (!(await this.loadParser()) || !this.reader) return undefined;
    const key = document.uri.toString();
    try {
      return this.reader.analysisAt(versionOf(document), offset, this.settings);
    } catch (error) {
      // A reader bug must not surface as an editor error: log it, show nothing.
      console.error(`SepConv Lab: could not read ${key} at ${offset}: ${error instanceof Error ? error.stack : String(error)}`);
      this.reader.forget(key);
      return undefined;
    }
  }

  /** The whole file's analysis (CodeLens, diagnostics) at the current version, or undefined when it cannot be read. */
  async analysis(document: vscode.TextDocument): Promise<PythonAnalysis | undefined> {
    if (!(await this.loadParser()) || !this.reader) return undefined;
    const key = document.uri.toString();
    const cached = this.analyses.get(key);
    if (cached && cached.version === document.version && cached.settings === this.settings) return cached.analysis;
    let analysis: PythonAnalysis | undefined;
    try {
      const code = this.reader.modelCode(versionOf(document));
      analysis = code ? analyzeCode(code, this.settings) : undefined;
    } catch (error) {
      // A reader bug must not surface as an editor error: log it, show nothing.
      console.error(`SepConv Lab: could not read ${key}: ${error instanceof Error ? error.stack : String(error)}`);
      this.reader.forget(key);
    }
    this.analyses.set(key, { version: document.version, settings: this.settings, analysis });
    return analysis;
  }

  /**
   * The evaluation of the whole document (every conv call site with every instance it builds),
   * with the workspace files it imports; cached per version, settings and imported files.
   */
  async evaluation(document: vscode.TextDocument): Promise<FileRows | undefined> {
    if (!(await this.loadParser()) || !this.reader || !this.imports) return undefined;
    const key = document.uri.toString();
    const cached = this.evaluations.get(key);
    if (cached && cached.version === document.version && cached.settings === this.settings && cached.generation === this.imports.generation) return cached.rows;
    const entry = { version: document.version, settings: this.settings, generation: this.imports.generation, rows: this.evaluate(document) };
    this.evaluations.set(key, entry);
    return entry.rows;
  }

  private async evaluate(document: vscode.TextDocument): Promise<FileRows | undefined> {
    const key = document.uri.toString();
    const file = document.uri.scheme === 'file' ? document.uri.fsPath : `/${document.uri.scheme}/${document.uri.path}`;
    try {
      const first = this.reader!.read(versionOf(document));
      if (!first) return undefined;
      await this.imports!.prepare(first.tree, file);
      if (document.isClosed) return undefined;
      // The tree of the version at hand (an edit during the loads re-parsed it).
      const read = this.reader!.read(versionOf(document));
      if (!read) return undefined;
      return fileSiteRows(read.tree, document.getText(), file, this.imports!.resolver(), { ...this.settings, limits: EDITOR_LIMITS });
    } catch (error) {
      console.error(`SepConv Lab: could not evaluate ${key}: ${error instanceof Error ? error.stack : String(error)}`);
      return undefined;
    }
  }

  private forget(key: string): void {
    this.evaluations.delete(key);
    this.reader?.forget(key);
    this.analyses.delete(key);
    this.lastChange.delete(key);
    clearTimeout(this.parseTimers.get(key));
    this.parseTimers.delete(key);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    for (const timer of this.parseTimers.values()) clearTimeout(timer);
    this.parseTimers.clear();
    this.reader?.clear();
  }
}

export function toRange(span: { startLine: number; startColumn: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(span.startLine, span.startColumn, span.endLine, span.endColumn);
}
