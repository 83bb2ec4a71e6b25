import * as vscode from 'vscode';

/** Registers the playground command and panel serializer. */
export function registerPlayground(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('sepconv.openPlayground', () => {
      void vscode.window.showInformationMessage('SepConv Lab: the playground is not built yet.');
    }),
  );
}
