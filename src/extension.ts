/**
 * Composition root: activate() only wires things together. Nothing heavy is loaded here: the
 * engine worker, the Python parser and Dawn are loaded on first use by the features that need them.
 */
import * as vscode from 'vscode';
import { registerPlayground } from './playground/registerPlayground';
import { registerOpenModel } from './playground/openModelCommand';
import { PlaygroundPanel } from './playground/playgroundPanel';
import { registerEditorFeatures } from './editor/registerEditorFeatures';
import { registerMeasureFeature } from './editor/measureFeature';
import { answerRequest, rejectionText } from './playground/hostRequests';
import { parseFromWebview, type ResponseMessage } from './shared/protocol';
import { disposeSharedWorker } from './engine/workerClient';
import { RunStore } from './playground/runStore';
import { HeldInputs } from './playground/heldInputs';
import { CommandLinkTable } from './editor/commandLinks';

/**
 * What activate() returns (`vscode.extensions.getExtension('sepconv-lab.sepconv-lab').exports`):
 * the playground's host side without a page, for the integration tests and other extensions.
 */
export interface SepConvApi {
  /**
   * Answers one page -> host request as the playground panel does: the message is checked by
   * `parseFromWebview` first, then handled by the same request handlers (a CPU run in the engine's
   * worker, a WebGPU run on the host's Dawn device, ...). Never throws: errors come back as
   * `{ok: false, error}`.
   */
  answerPlaygroundRequest(message: unknown, progress?: (done: number, total: number, label: string) => void): Promise<ResponseMessage>;
}

export function activate(context: vscode.ExtensionContext): SepConvApi {
  // The hover's command links name entries of this table (ids), never arguments from the document.
  const links = new CommandLinkTable();
  registerPlayground(context, links);
  registerOpenModel(context);
  registerEditorFeatures(context, links);
  registerMeasureFeature(context);
  // The engine's worker thread (started by the first CPU run) stops with the extension.
  context.subscriptions.push({ dispose: disposeSharedWorker });
  // `npm start` opens the playground with the sample workspace (development runs only).
  if (context.extensionMode === vscode.ExtensionMode.Development && process.env.SEPCONV_OPEN_PLAYGROUND === '1') {
    void vscode.commands.executeCommand('sepconv.openPlayground');
  }
  // The API's runs, as a panel keeps its own: `readTensor` reads the latest.
  const runs = new RunStore();
  const inputs = new HeldInputs();
  return {
    async answerPlaygroundRequest(message, progress = () => {}) {
      const parsed = parseFromWebview(message);
      if (!parsed.ok) return { type: 'response', requestId: parsed.requestId ?? -1, ok: false, error: rejectionText(parsed.error) };
      if (parsed.value.type !== 'request') return { type: 'response', requestId: -1, ok: false, error: `a '${parsed.value.type}' message is not a request` };
      // `weights: {kind: 'imported'}` means the weights of the model file open in the playground, as in the panel.
      const importedWeights = PlaygroundPanel.currentPanel?.modelFileWeights;
      return answerRequest(parsed.value, { signal: new AbortController().signal, progress, runs, inputs, importedWeights });
    },
  };
}

export function deactivate(): void {
  // Disposables registered on the context are disposed by VS Code.
}
