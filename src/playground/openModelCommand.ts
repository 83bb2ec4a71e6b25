/**
 * "SepConv: Open Model in Playground": from the command palette (a file dialog) or the explorer's
 * context menu on an .onnx, .pt or .pth file. The file is read through the workspace file system
 * (remote workspaces included), size-capped, imported in a worker thread, and opened in the
 * playground with its trained weights, which the panel keeps on the host for its runs.
 */
import * as vscode from 'vscode';
import { dirname } from 'node:path';
import { PlaygroundPanel } from './playgroundPanel';
import { MAX_MODEL_BYTES, MODEL_EXTENSIONS, OpenModelError, type OpenedModel } from './openModel';

export const OPEN_MODEL_COMMAND = 'sepconv.openModel';

async function chooseFile(): Promise<vscode.Uri | undefined> {
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Open in Playground', filters: { 'Models (ONNX, PyTorch state_dict)': [...MODEL_EXTENSIONS] } });
  return chosen?.[0];
}

/** Reads and imports the model at `uri`; throws OpenModelError with a message for the user. */
export async function openModelUri(uri: vscode.Uri): Promise<OpenedModel> {
  const name = uri.path.slice(uri.path.lastIndexOf('/') + 1);
  let size: number;
  try {
    size = (await vscode.workspace.fs.stat(uri)).size;
  } catch (error) {
    throw new OpenModelError(`${name}: cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
  if (size > MAX_MODEL_BYTES) throw new OpenModelError(`${name}: ${size} bytes, over the ${MAX_MODEL_BYTES}-byte limit`);
  const bytes = await vscode.workspace.fs.readFile(uri);
  // Parsed in a worker thread of its own, so the host's thread never waits on it; tensors stored
  // beside an .onnx (external data) are read only from a local folder, and only inside it.
  const { importModelInWorker } = await import('./modelImport');
  return importModelInWorker(bytes, name, uri.scheme === 'file' ? dirname(uri.fsPath) : undefined);
}

export function registerOpenModel(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(OPEN_MODEL_COMMAND, (argument?: unknown): Promise<void> | undefined => {
      // From the explorer: the file; the returned promise settles when the model is shown (or refused).
      if (argument instanceof vscode.Uri) return openAndShow(context, argument);
      // From the palette: the dialog waits for the user, so the command returns at once.
      void chooseFile().then((uri) => (uri ? openAndShow(context, uri) : undefined));
      return undefined;
    }),
  );
}

async function openAndShow(context: vscode.ExtensionContext, uri: vscode.Uri): Promise<void> {
  let opened: OpenedModel;
  try {
    opened = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'SepConv: importing the model' }, () => openModelUri(uri));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`SepConv: ${message}`);
    // An open panel says it too, where the user looks for the model.
    PlaygroundPanel.currentPanel?.showModelFileError(`Could not open the model: ${message}`);
    return;
  }
  PlaygroundPanel.createOrShow(context.extensionUri, opened.spec, { imported: true, ...(opened.countedParams ? { countedParams: opened.countedParams } : {}) }, opened.weights);
  if (opened.unsupported) {
    void vscode.window.showWarningMessage(`SepConv: ${opened.unsupported.message}. The graph before it is shown and runs.`);
  } else if (opened.warnings.length) {
    void vscode.window.showInformationMessage(`SepConv: ${opened.warnings.join('; ')}`);
  }
}
