/**
 * Composition root: activate() only wires things together. Nothing heavy is loaded here: the
 * engine worker, the Python parser and Dawn are loaded on first use by the features that need them.
 */
import * as vscode from 'vscode';
import { registerPlayground } from './playground/registerPlayground';
import { registerEditorFeatures } from './editor/registerEditorFeatures';

export function activate(context: vscode.ExtensionContext): void {
  registerPlayground(context);
  registerEditorFeatures(context);
  // `npm start` opens the playground with the sample workspace (development runs only).
  if (context.extensionMode === vscode.ExtensionMode.Development && process.env.SEPCONV_OPEN_PLAYGROUND === '1') {
    void vscode.commands.executeCommand('sepconv.openPlayground');
  }
}

export function deactivate(): void {
  // Disposables registered on the context are disposed by VS Code.
}
