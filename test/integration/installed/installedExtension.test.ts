/// <reference types="mocha" />
// The checks of an extension installed from its VSIX (scripts/testVsixInstall.mjs runs them
// through `node scripts/runIntegration.mjs --vsix FILE`): the copy that code-server's
// --install-extension unpacked activates, its hover answers, and its playground runs, on the
// CPU and on the Dawn binary that the VSIX carries.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  activatedExtension,
  closePlaygroundTabs,
  EXTENSION_ID,
  hoverText,
  openWorkspaceDocument,
  playgroundTabs,
  positionOf,
  runOnHost,
  waitFor,
} from '../helpers';

const installedPath = process.env.SEPCONV_INTEGRATION_INSTALLED_PATH ?? '';

suite('installed from the VSIX', () => {
  test('the installed copy is the one loaded, and it activates', async () => {
    assert.ok(installedPath, 'SEPCONV_INTEGRATION_INSTALLED_PATH is not set: run these through scripts/testVsixInstall.mjs');
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not among the loaded extensions`);
    assert.equal(fs.realpathSync(extension.extensionPath), fs.realpathSync(installedPath));
    const { api } = await activatedExtension();
    assert.ok(api);
    // What the VSIX must not carry, seen from the installed folder.
    assert.equal(fs.existsSync(path.join(installedPath, 'src')), false, 'sources were installed');
    assert.ok(fs.existsSync(path.join(installedPath, 'dist', 'extension.js')));
  });

  test('the hover answers on a Python file', async () => {
    await activatedExtension();
    const { document } = await openWorkspaceDocument('convs.py');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      positionOf(document, 'standard =', 'Conv2d'),
    );
    const text = hoverText(hovers);
    const params = (32 * 64 * 9 + 64).toLocaleString('en-US');
    assert.ok(text.includes(params), `the hover does not show ${params} params:\n${text}`);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('the playground opens and runs on the CPU and on the WebGPU of the VSIX', async function () {
    this.timeout(120_000);
    const { api } = await activatedExtension();
    await closePlaygroundTabs();
    await vscode.commands.executeCommand('sepconv.openPlayground');
    await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
    const cpu = await runOnHost(api, { backend: 'cpu' });
    assert.equal(cpu.backend, 'cpu');
    assert.deepEqual(cpu.outputShape, [1, 8, 12, 12]);
    const gpu = await runOnHost(api, { backend: 'webgpu' });
    assert.equal(gpu.backend, 'webgpu', `fell back to ${gpu.backend}: ${gpu.note ?? ''}`);
    const report = process.report?.getReport() as { sharedObjects?: string[] } | undefined;
    const dawn = report?.sharedObjects?.find((file) => file.endsWith('dawn.node'));
    assert.ok(dawn, 'no dawn.node was loaded');
    assert.ok(fs.realpathSync(dawn).startsWith(fs.realpathSync(installedPath)), `Dawn came from ${dawn}, not from the installed VSIX`);
    await closePlaygroundTabs();
  });
});
