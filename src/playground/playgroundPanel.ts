/**
 * The playground webview panel (the webview-sample idiom): one panel at a time, revived after a
 * window reload through the serializer, disposing what it owns.
 *
 * Every message from the page is checked by `parseFromWebview` before the host acts on it; a
 * message that makes no sense gets a `protocolError` (or an error response to its request) back.
 */
import * as vscode from 'vscode';
import { getPlaygroundHtml, makeNonce } from './html';
import { answerRequest, rejectionText } from './hostRequests';
import { parseFromWebview, parseModelShape, type FromWebviewMessage, type LoadModelOptions, type ToWebviewMessage } from '../shared/protocol';
import type { ModelSpec } from '../shared/spec';
import type { WeightMap } from '../engine/types';
import { RunStore } from './runStore';
import { HeldInputs } from './heldInputs';
import { compressRunResult, isCompressedRunResult, plainPackedMaps, type CompressedRunResult, type PackedRunResult } from '../shared/packedMaps';

export const PLAYGROUND_VIEW_TYPE = 'sepconv.playground';
/** Progress of a request goes to the page at most this often, ms: enough for a progress bar. */
const PROGRESS_INTERVAL_MS = 100;

export class PlaygroundPanel {
  static currentPanel: PlaygroundPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private readonly pending = new Map<number, AbortController>();
  private readonly runs = new RunStore();
  private readonly inputs = new HeldInputs();
  private ready = false;
  private disposed = false;
  /** The model loadModel() was last given, sent again if the page reloads. */
  private lastLoaded: { model: ModelSpec; options: LoadModelOptions | undefined } | undefined;
  /** A model to load once the page says it is ready. */
  private queuedModel: ModelSpec | undefined;
  private queuedOptions: LoadModelOptions | undefined;
  /** The trained weights of the model file loaded last (runs with `weights: {kind: 'imported'}`). */
  private importedWeights: WeightMap | undefined;

  /**
   * Shows the panel (creating it when needed) and loads `model` when one is given (an imported
   * network: `options.imported`). `weights`: the model file's trained weights, kept here for the
   * page's host runs (`options.hostWeights` is then set).
   */
  static createOrShow(extensionUri: vscode.Uri, model?: ModelSpec, options?: LoadModelOptions, weights?: WeightMap): PlaygroundPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.One;
    const loadOptions = weights ? { ...options, hostWeights: true } : options;
    if (PlaygroundPanel.currentPanel) {
      // Revealed where it is: moving a webview to another column reloads its page.
      PlaygroundPanel.currentPanel.panel.reveal();
      if (model) {
        PlaygroundPanel.currentPanel.importedWeights = weights;
        PlaygroundPanel.currentPanel.loadModel(model, loadOptions);
      }
      return PlaygroundPanel.currentPanel;
    }
    const panel = vscode.window.createWebviewPanel(PLAYGROUND_VIEW_TYPE, 'SepConv Playground', column, webviewOptions(extensionUri));
    PlaygroundPanel.currentPanel = new PlaygroundPanel(panel, extensionUri, model, loadOptions);
    PlaygroundPanel.currentPanel.importedWeights = weights;
    return PlaygroundPanel.currentPanel;
  }

  /** Called by the serializer after a reload: the page restores its own state (getState). */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri): void {
    panel.webview.options = webviewOptions(extensionUri);
    PlaygroundPanel.currentPanel = new PlaygroundPanel(panel, extensionUri, undefined, undefined);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    model: ModelSpec | undefined,
    options: LoadModelOptions | undefined,
  ) {
    this.queuedModel = model;
    this.queuedOptions = options;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.png');
    panel.webview.html = this.getHtml(panel.webview);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: unknown) => this.onMessage(message)),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('sepconv')) this.sendInit();
      }),
    );
  }

  /** The trained weights of the model file this panel opened last, if any. */
  get modelFileWeights(): WeightMap | undefined {
    return this.importedWeights;
  }

  loadModel(model: ModelSpec, options?: LoadModelOptions): void {
    this.lastLoaded = { model, options };
    if (this.ready) {
      this.post({ type: 'loadModel', model, options });
    } else {
      this.queuedModel = model;
      this.queuedOptions = options;
    }
  }

  /** Says in the panel why a model file did not open. */
  showModelFileError(error: string): void {
    this.post({ type: 'modelFileError', error });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (PlaygroundPanel.currentPanel === this) PlaygroundPanel.currentPanel = undefined;
    for (const controller of this.pending.values()) controller.abort();
    this.pending.clear();
    this.runs.clear();
    this.inputs.clear();
    this.importedWeights = undefined;
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }

  private post(message: ToWebviewMessage): void {
    // A run can finish after the user closed the panel: its answer has nowhere to go.
    if (this.disposed) return;
    this.panel.webview.postMessage(message).then(undefined, () => undefined);
  }

  private sendInit(): void {
    const config = vscode.workspace.getConfiguration('sepconv');
    const remote = vscode.env.remoteName !== undefined || vscode.env.uiKind === vscode.UIKind.Web;
    this.post({
      type: 'init',
      standalone: false,
      model: this.queuedModel,
      modelOptions: this.queuedOptions,
      convention: config.get('convention'),
      dtype: config.get('dtype'),
      remote,
    });
    this.queuedModel = undefined;
    this.queuedOptions = undefined;
  }

  private onMessage(raw: unknown): void {
    const parsed = parseFromWebview(raw);
    if (!parsed.ok) {
      const error = rejectionText(parsed.error);
      if (parsed.requestId !== undefined) this.post({ type: 'response', requestId: parsed.requestId, ok: false, error });
      else this.post({ type: 'protocolError', error });
      return;
    }
    void this.dispatch(parsed.value);
  }

  private async dispatch(message: FromWebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        // A second 'ready' is the page reloading (the webview was moved or restored): a model
        // posted to the old page may not have arrived, so the last one given goes with init.
        if (this.ready && this.lastLoaded && !this.queuedModel) {
          this.queuedModel = this.lastLoaded.model;
          this.queuedOptions = this.lastLoaded.options;
        }
        this.ready = true;
        this.sendInit();
        return;
      case 'cancel':
        this.pending.get(message.requestId)?.abort();
        return;
      case 'log':
        if (message.level === 'error') console.error(`[playground] ${message.message}`);
        return;
      case 'request': {
        if (this.pending.has(message.requestId)) {
          this.post({ type: 'response', requestId: message.requestId, ok: false, error: `request id ${message.requestId} is already in use` });
          return;
        }
        const controller = new AbortController();
        this.pending.set(message.requestId, controller);
        let lastProgress = performance.now();
        const response = await answerRequest(message, {
          signal: controller.signal,
          runs: this.runs,
          inputs: this.inputs,
          importedWeights: this.importedWeights,
          progress: (done, total, label) => {
            // Each message crosses the remote connection ahead of the answer: none in a run's first
            // PROGRESS_INTERVAL_MS, then at most one per interval.
            const now = performance.now();
            if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
            lastProgress = now;
            this.post({ type: 'progress', requestId: message.requestId, done, total, label });
          },
        });
        this.pending.delete(message.requestId);
        if (message.method === 'run' && response.ok) {
          const packed = response.result as PackedRunResult;
          const sent = await compressedRun(packed);
          this.post({ ...response, result: sent });
          // Sent compressed, the previews' own buffer is read by nothing: the next run writes its previews there.
          const buffer = packed.featureMaps[0]?.preview.buffer;
          if (isCompressedRunResult(sent) && buffer) this.runs.giveBack(buffer);
        } else this.post(response);
      }
    }
  }

  private getHtml(webview: vscode.Webview): string {
    const uri = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...path)).toString();
    return getPlaygroundHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce((n) => crypto.getRandomValues(new Uint8Array(n))),
      scriptUri: uri('dist', 'webview.js'),
      workerUri: uri('dist', 'webviewWorker.js'),
      styleUri: uri('media', 'playground.css'),
      codiconUri: uri('dist', 'codicon.css'),
      samplesUri: `${uri('media', 'samples')}/`,
      standalone: false,
    });
  }
}

/** A run's answer as it goes to the page: its maps' buffer deflated off this thread (zlib's pool). */
async function compressedRun(result: PackedRunResult): Promise<PackedRunResult | CompressedRunResult> {
  const { deflateRaw, constants } = await import('node:zlib');
  // Level 1: nearly all of the gain at a fifth of level 6's time (3.0 MB of previews: 69 KB in 9 ms).
  const deflate = (bytes: Uint8Array) =>
    new Promise<Uint8Array>((resolve, reject) => deflateRaw(bytes, { level: constants.Z_BEST_SPEED }, (error, out) => (error ? reject(error) : resolve(out))));
  // Not compressed: the maps go as they are, in an ArrayBuffer (a SharedArrayBuffer does not cross the message).
  return (await compressRunResult(result, deflate).catch(() => undefined)) ?? { ...result, featureMaps: plainPackedMaps(result.featureMaps) };
}

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    retainContextWhenHidden: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** The command's optional argument: `{model}` from the editor's "Open in Playground" link. */
export function modelFromCommandArgument(argument: unknown): ModelSpec | undefined {
  if (argument === undefined || argument === null) return undefined;
  if (typeof argument !== 'object' || !('model' in argument)) throw new Error('sepconv.openPlayground takes {model: ModelSpec}');
  return parseModelShape(argument.model);
}
