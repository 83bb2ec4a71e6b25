/// <reference types="mocha" />
// "SepConv: Measure with PyTorch" on a corpus file, in the real extension host: the command runs
// media/python/measure.py with the real PyTorch (/usr/bin/python3, Debian's python3-torch, or
// $SEPCONV_TORCH_PYTHON) and its figures must equal the committed truth at every site; then the
// CodeLens and the hover show them, marked as measured.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { MeasureResult } from '../../src/python/measureRunner';
import { activatedExtension, hoverText } from './helpers';

/** The compiled test lives in dist-test/integration. */
const REPO = path.resolve(__dirname, '../..');
const CORPUS_FILE = 'pytorch-mobilenet-v2/MobileNetV2.py';
const PYTHON = process.env.SEPCONV_TORCH_PYTHON ?? '/usr/bin/python3';

suite('Measure with PyTorch', () => {
  const config = () => vscode.workspace.getConfiguration('sepconv');
  suiteSetup(async () => {
    await activatedExtension();
    await config().update('pythonPath', PYTHON, vscode.ConfigurationTarget.Global);
    await config().update('measureTimeout', 600, vscode.ConfigurationTarget.Global);
  });
  suiteTeardown(async () => {
    await config().update('pythonPath', undefined, vscode.ConfigurationTarget.Global);
    await config().update('measureTimeout', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('on a corpus file, its figures equal the truth at every site, and the CodeLens and hover show them', async function () {
    this.timeout(700_000);
    assert.ok(vscode.workspace.isTrusted, 'the test workspace is not trusted');
    const file = path.join(REPO, 'test/corpus', CORPUS_FILE);
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    await vscode.window.showTextDocument(document);
    const before = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri, 20);
    assert.ok(
      before.some((lens) => lens.command?.title.includes('Measure with PyTorch')),
      'no "Measure with PyTorch" CodeLens on the model class',
    );

    const result = await vscode.commands.executeCommand<MeasureResult | undefined>('sepconv.measure', document.uri.toString());
    assert.ok(result, 'the measure command returned no result (see the error message it showed)');
    const truth = JSON.parse(
      fs.readFileSync(path.join(REPO, 'test/corpus/truth', `${CORPUS_FILE.replace(/\.py$/, '').replaceAll('/', '__')}.json`), 'utf8'),
    ) as MeasureResult;
    // The file is outside the workspace folder: positions are relative to its own folder.
    const key = (sites: MeasureResult['sites']) => sites.map(({ file: _file, ...site }) => site);
    assert.deepEqual(key(result.sites), key(truth.sites.filter((s) => s.file === CORPUS_FILE)));

    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri, 20);
    assert.ok(
      lenses.some((lens) => /measured: 3\.50M params/.test(lens.command?.title ?? '')),
      `no measured CodeLens: ${lenses.map((l) => l.command?.title).join(' | ')}`,
    );
    const site = truth.sites.find((s) => s.file === CORPUS_FILE && s.layer === 'Linear')!;
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      new vscode.Position(site.line - 1, site.column),
    );
    const text = hoverText(hovers);
    assert.match(text, /measured with PyTorch/);
    assert.ok(text.includes(site.instances[0]!.params.toLocaleString('en-US')), `the hover does not show ${site.instances[0]!.params} params:\n${text}`);
  });
});
