/// <reference types="mocha" />
// Part 1 of "the playground panel comes back after a window reload": open the panel and ask the
// runner to reload the window. The index runs this file after all the others (the reload ends
// this extension host); part 2 is afterReload/restored.test.ts.
import { activatedExtension, closePlaygroundTabs, playgroundTabs, requestReload, SMALL_MODEL, waitFor } from './helpers';
import * as vscode from 'vscode';

suite('window reload', () => {
  test('the playground is open when the window reloads', async function () {
    this.timeout(0); // the reload ends this test
    await activatedExtension();
    await closePlaygroundTabs();
    await vscode.commands.executeCommand('sepconv.openPlayground', { model: SMALL_MODEL });
    await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
    await requestReload(this.test?.fullTitle() ?? 'window reload');
  });
});
