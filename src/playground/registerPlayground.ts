import * as vscode from 'vscode';
import { PLAYGROUND_VIEW_TYPE, PlaygroundPanel, modelFromCommandArgument } from './playgroundPanel';

/** Registers the playground command (optional argument `{model}`) and the panel serializer. */
export function registerPlayground(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('sepconv.openPlayground', (argument?: unknown) => {
      let model;
      try {
        model = modelFromCommandArgument(argument);
      } catch (error) {
        void vscode.window.showErrorMessage(`SepConv: ${error instanceof Error ? error.message : String(error)}`);
      }
      PlaygroundPanel.createOrShow(context.extensionUri, model);
    }),
    vscode.window.registerWebviewPanelSerializer(PLAYGROUND_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
        PlaygroundPanel.revive(panel, context.extensionUri);
      },
    }),
  );
}
