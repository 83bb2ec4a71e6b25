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
}

export function deactivate(): void {
  // Disposables registered on the context are disposed by VS Code.
}
