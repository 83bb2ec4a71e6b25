/**
 * The analysis of each open Python document, cached per document version and settings. Loads
 * the parser on the first request; parses incrementally from the change events.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { loadPythonParser, findWasmLocations, type PythonParser } from '../python/pythonParser';
import { ParseCache, type TextChange } from '../python/parseCache';
import { analyzeCode, type PythonAnalysis } from '../python/pythonAnalysis';
import { readModelCode, type ModelCode } from '../python/modelCode';
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

export class PythonDocuments implements vscode.Disposable {
  private parser: Promise<PythonParser | undefined> | undefined;
  private cache: ParseCache | undefined;
  private readonly code = new Map<string, { version: number; code: ModelCode | undefined }>();
  private readonly analyses = new Map<string, { version: number; settings: EstimateSettings; analysis: PythonAnalysis | undefined }>();
  private readonly pending = new Map<string, TextChange[]>();
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
      }),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri.toString())),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration('sepconv')) return;
        this.settings = readSettings();
        this.analyses.clear();
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

  /** The analysis of the document at its current version, or undefined when it cannot be read. */
  async analysis(document: vscode.TextDocument): Promise<PythonAnalysis | undefined> {
    if (!(await this.loadParser()) || !this.cache) return undefined;
    const key = document.uri.toString();
    const cached = this.analyses.get(key);
    if (cached && cached.version === document.version && cached.settings === this.settings) return cached.analysis;
    let code = this.code.get(key);
    if (!code || code.version !== document.version) {
      const changes = this.pending.get(key);
      this.pending.delete(key);
      try {
        const tree = this.cache.get(key, document.version, document.getText(), changes);
        code = { version: document.version, code: tree ? readModelCode(tree) : undefined };
      } catch (error) {
        // A reader bug must not surface as an editor error: log it, show nothing.
        console.error(`SepConv Lab: could not read ${key}: ${error instanceof Error ? error.stack : String(error)}`);
        this.cache.drop(key);
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
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.cache?.clear();
  }
}

export function toRange(span: { startLine: number; startColumn: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(span.startLine, span.startColumn, span.endLine, span.endColumn);
}
