/// <reference types="mocha" />
// Part 2 of "the playground panel comes back after a window reload" (part 1: ../reload.test.ts):
// VS Code restores the panel's tab and activates the extension for it (onWebviewPanel), whose
// serializer revives the panel.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { EXTENSION_ID, playgroundTabs, waitFor } from '../helpers';

suite('after the window reload', () => {
  test('the playground tab is restored and the extension revives the panel', async () => {
    await waitFor(() => playgroundTabs().length === 1, 'the restored playground tab', 30_000);
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    // Nothing in this run has asked for the extension: the restored panel activates it.
    await waitFor(() => extension.isActive, 'the extension to be activated by the restored panel', 30_000);
  });

  test('the revived panel is the playground: the command reveals it instead of opening another', async () => {
    assert.equal(playgroundTabs().length, 1, 'no restored playground tab');
    await vscode.commands.executeCommand('workbench.action.focusFirstEditorGroup');
    await vscode.commands.executeCommand('sepconv.openPlayground');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(playgroundTabs().length, 1, 'the command opened a second panel: the revived one was not registered');
  });
});
