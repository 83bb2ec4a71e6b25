/**
 * The open Python documents as the analysis worker sees them: each document's text goes to the
 * worker when it opens, then only its changes (with their versions); the worker parses, evaluates
 * and costs, and sends back each version's results. Providers read the latest results here: a
 * hover on a site that no change has touched since is answered at once, anything else waits (a
 * bounded time) for the results of the document's current version. Nothing here parses.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, type EstimateSettings } from '../python/layerEstimates';
import { CONVENTIONS, DTYPES, type Convention, type Dtype } from '../shared/cost';
import { AnalysisClient, type Results, type SiteAt } from '../python/analysisClient';
import { readWorkspaceFile, watchPythonFiles } from './workspaceImports';

export const PYTHON_SELECTOR: vscode.DocumentSelector = [
  { language: 'python', scheme: 'file' },
  { language: 'python', scheme: 'untitled' },
  { language: 'python', scheme: 'vscode-notebook-cell' },
];

/** How long a hover waits for the results of the version it is about (ms), when older results do not answer it. */
export const HOVER_WAIT_MS = 2000;
/** How long CodeLens, the quick fix and the convert command wait for the current version's results (ms). */
export const RESULTS_WAIT_MS = 6000;

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

/** The path the evaluator gives a document (relative imports are looked up beside it). */
function documentPath(document: vscode.TextDocument): string {
  return document.uri.scheme === 'file' ? document.uri.fsPath : `/${document.uri.scheme}/${document.uri.path}`;
}

const isPython = (document: vscode.TextDocument) => document.languageId === 'python';

export class PythonDocuments implements vscode.Disposable {
  private readonly client: AnalysisClient;
  private readonly output: vscode.LogOutputChannel;
  private settings = readSettings();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly resultsArrived = new vscode.EventEmitter<Results>();
  /** Documents whose text the worker has. */
  private readonly tracked = new Set<string>();
  /** Fires when a document's results arrive (lenses and diagnostics refresh). */
  readonly onDidChangeResults = this.resultsArrived.event;

  constructor(extensionPath: string) {
    this.output = vscode.window.createOutputChannel('SepConv Python', { log: true });
    this.client = new AnalysisClient({
      workerPath: path.join(extensionPath, 'dist', 'pythonWorker.js'),
      wasmDirs: [path.join(extensionPath, 'dist'), extensionPath],
      readFile: readWorkspaceFile,
      currentText: (key) => {
        const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
        return document && !document.isClosed ? { version: document.version, text: document.getText(), path: documentPath(document) } : undefined;
      },
      log: (message) => this.output.warn(message),
      onResults: (results) => this.resultsArrived.fire(results),
    });
    this.client.setSettings(this.settings);
    this.disposables.push(
      this.output,
      this.resultsArrived,
      watchPythonFiles((file) => this.client.fileChanged(file)),
      vscode.workspace.onDidOpenTextDocument((document) => this.open(document)),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (!isPython(event.document) || event.contentChanges.length === 0) return;
        const key = event.document.uri.toString();
        if (!this.tracked.has(key)) return this.open(event.document);
        // Changes of one event are applied in order; events arrive in version order.
        this.client.change(key, event.document.version, event.contentChanges.map((c) => ({ rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text })));
      }),
      vscode.workspace.onDidCloseTextDocument((document) => {
        this.tracked.delete(document.uri.toString());
        this.client.close(document.uri.toString());
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration('sepconv')) return;
        this.settings = readSettings();
        this.client.setSettings(this.settings);
      }),
    );
    for (const document of vscode.workspace.textDocuments) this.open(document);
  }

  /** Sends a Python document's text to the worker (once; changes follow as they come). */
  open(document: vscode.TextDocument): void {
    if (!isPython(document) || document.isClosed) return;
    const key = document.uri.toString();
    if (this.tracked.has(key)) return;
    this.tracked.add(key);
    this.client.open(key, document.version, document.getText(), documentPath(document));
  }

  get currentSettings(): EstimateSettings {
    return this.settings;
  }

  /** The conv site at `offset`: from results that still hold for it, else from the current version's (waited for, bounded). */
  siteAt(document: vscode.TextDocument, offset: number): Promise<SiteAt | undefined> {
    this.open(document);
    return this.client.siteAt(document.uri.toString(), document.version, offset, HOVER_WAIT_MS);
  }

  /** The results of the document's current version (waited for, bounded); undefined when they did not come in time. */
  async results(document: vscode.TextDocument, token?: vscode.CancellationToken): Promise<Results | undefined> {
    this.open(document);
    const key = document.uri.toString();
    const wait = this.client.resultsFor(key, document.version, RESULTS_WAIT_MS);
    if (!token) return wait;
    return new Promise((resolve) => {
      const cancel = token.onCancellationRequested(() => resolve(undefined));
      void wait.then((r) => {
        cancel.dispose();
        resolve(r);
      });
    });
  }

  /** The latest results of a document, whatever their version. */
  latest(document: vscode.TextDocument): Results | undefined {
    return this.client.latest(document.uri.toString());
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.client.dispose();
  }
}

export function toRange(span: { startLine: number; startColumn: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(span.startLine, span.startColumn, span.endLine, span.endColumn);
}
