import * as vscode from 'vscode';
import { PLAYGROUND_VIEW_TYPE, PlaygroundPanel, modelFromCommandArgument } from './playgroundPanel';
import { OPEN_PLAYGROUND_COMMAND, UNKNOWN_LINK_MESSAGE, type CommandLinkTable } from '../editor/commandLinks';

/**
 * Registers the playground command and the panel serializer. The command's optional argument is
 * `{model}` (CodeLens, other extensions) or the id of a hover link registered in `links`.
 */
export function registerPlayground(context: vscode.ExtensionContext, links: CommandLinkTable): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(OPEN_PLAYGROUND_COMMAND, (argument?: unknown) => {
      if (typeof argument === 'string') {
        const registered = links.resolve(OPEN_PLAYGROUND_COMMAND, argument);
        if (!registered) {
          void vscode.window.showInformationMessage(UNKNOWN_LINK_MESSAGE);
          return;
        }
        argument = registered[0];
      }
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
