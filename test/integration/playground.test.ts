/// <reference types="mocha" />
// The playground panel, and its host side: run requests (as the page sends them) answered by
// the engine in the extension host, on the CPU and on Dawn's WebGPU (SwiftShader here).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedExtension, closePlaygroundTabs, playgroundTabs, runOnHost, SMALL_MODEL, smallInput, waitFor } from './helpers';
import type { RunResult } from '../../src/shared/protocol';

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkResult(result: RunResult, backend: string): void {
  assert.equal(result.backend, backend, `asked for ${backend}, ran on ${result.backend}${result.note ? ` (${result.note})` : ''}`);
  assert.deepEqual(result.output.shape, [1, 8, 12, 12]);
  assert.equal(result.output.data.byteLength, 4 * elements(result.output.shape));
  const output = new Float32Array(result.output.data);
  assert.ok(output.every(Number.isFinite), 'the output holds non-finite values');
  assert.ok(new Set(output).size > 10, 'the output is (nearly) constant');
  assert.ok(result.featureMaps.length >= 2, `expected a feature map per step, got ${result.featureMaps.length}`);
  for (const map of result.featureMaps) {
    assert.equal(map.data.byteLength, 4 * elements(map.shape), `feature map ${map.key} does not match its shape`);
  }
  assert.ok(result.totalMs >= 0);
}

suite('playground', () => {
  suiteSetup(async () => {
    await activatedExtension();
    await closePlaygroundTabs();
  });
  suiteTeardown(closePlaygroundTabs);

  test('the command opens one panel and reveals it when run again', async () => {
    await vscode.commands.executeCommand('sepconv.openPlayground');
    await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
    await vscode.commands.executeCommand('workbench.action.focusFirstEditorGroup');
    await vscode.commands.executeCommand('sepconv.openPlayground');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(playgroundTabs().length, 1, 'a second command opened a second panel');
    assert.equal(playgroundTabs()[0]!.label, 'SepConv Playground');
  });

  test('the command takes a model, and refuses a malformed one without crashing', async () => {
    await closePlaygroundTabs();
    await vscode.commands.executeCommand('sepconv.openPlayground', { model: SMALL_MODEL });
    await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
    // A model without layers: an error message, and the panel is still there.
    await vscode.commands.executeCommand('sepconv.openPlayground', { model: { layers: [] } });
    assert.equal(playgroundTabs().length, 1);
  });

  test('a CPU run request is answered by the engine on the host', async () => {
    const { api } = await activatedExtension();
    checkResult(await runOnHost(api, { backend: 'cpu' }), 'cpu');
  });

  test('a WebGPU run request is answered on the host by Dawn, and agrees with the CPU', async function () {
    this.timeout(120_000);
    const { api } = await activatedExtension();
    const cpu = await runOnHost(api, { backend: 'cpu' });
    const gpu = await runOnHost(api, { backend: 'webgpu' });
    checkResult(gpu, 'webgpu');
    assert.match(gpu.device, /\S/, 'no adapter description');
    const a = new Float32Array(cpu.output.data);
    const b = new Float32Array(gpu.output.data);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1e-3 + Math.abs(a[i]!)));
    assert.ok(worst < 1e-3, `WebGPU and CPU outputs differ (worst relative difference ${worst})`);
  });

  test('the host probes its GPU', async () => {
    const { api } = await activatedExtension();
    const response = await api.answerPlaygroundRequest({ type: 'request', requestId: 900, method: 'probeHostGpu', body: {} });
    assert.ok(response.ok, response.ok ? '' : response.error);
    const info = response.result as { available: boolean; description: string };
    assert.equal(info.available, true, `the host reports no GPU: ${info.description}`);
  });

  test('bad requests get clear errors, not crashes', async () => {
    const { api } = await activatedExtension();
    const malformed = await api.answerPlaygroundRequest({ type: 'request', requestId: 901, method: 'run', body: { backend: 'cpu' } });
    assert.equal(malformed.ok, false);
    assert.equal(malformed.requestId, 901);
    assert.match(malformed.ok ? '' : malformed.error, /Rejected by the host: .*model/);

    const wrongChannels = { shape: [1, 3, 12, 12], data: new Float32Array(3 * 144).buffer };
    await assert.rejects(runOnHost(api, { backend: 'cpu', input: wrongChannels }), /channel|shape|in_channels/i);

    const escaping = await api.answerPlaygroundRequest({ type: 'request', requestId: 902, method: 'readWorkspaceFile', body: { path: '../../etc/passwd' } });
    assert.equal(escaping.ok, false);
    assert.match(escaping.ok ? '' : escaping.error, /workspace/);

    // A file inside the workspace, but of a type the page has no use for.
    const source = await api.answerPlaygroundRequest({ type: 'request', requestId: 903, method: 'readWorkspaceFile', body: { path: 'convs.py' } });
    assert.equal(source.ok, false);
    assert.match(source.ok ? '' : source.error, /reads only \.safetensors/);

    // The host is still there: a good request right after is answered.
    checkResult(await runOnHost(api, { backend: 'cpu', input: smallInput() }), 'cpu');
  });
});
