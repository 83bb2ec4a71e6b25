import type * as vscode from 'vscode';

/** Registers hover, CodeLens, code actions and diagnostics for Python model code. */
export function registerEditorFeatures(_context: vscode.ExtensionContext): void {
  // Filled in by the editor features.
}
