// Shared by the integration tests (bundled into each test that imports it).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { SepConvApi } from '../../src/extension';
import type { ModelSpec } from '../../src/shared/spec';
import type { RunRequestBody, RunResult } from '../../src/shared/protocol';

export const EXTENSION_ID = 'sepconv-lab.sepconv-lab';
export const PLAYGROUND_VIEW_TYPE = 'sepconv.playground';

/** The extension, activated, and the API its activate() returned. */
export async function activatedExtension(): Promise<{ extension: vscode.Extension<SepConvApi>; api: SepConvApi }> {
  const extension = vscode.extensions.getExtension<SepConvApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not among the loaded extensions`);
  const api = await extension.activate();
  assert.equal(typeof api?.answerPlaygroundRequest, 'function', 'activate() did not return the SepConv API');
  return { extension, api };
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A file of the test workspace (a copy of test/integration/workspace in the code-server runs). */
export function workspaceUri(...segments: string[]): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder is open');
  return vscode.Uri.joinPath(folder.uri, ...segments);
}

export async function openWorkspaceDocument(name: string): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument(workspaceUri(name));
  return vscode.window.showTextDocument(document, { preview: false });
}

/** The position just after the first occurrence of `text` on the document's line that holds `lineText`. */
export function positionOf(document: vscode.TextDocument, lineText: string, text: string): vscode.Position {
  for (let line = 0; line < document.lineCount; line++) {
    const content = document.lineAt(line).text;
    if (!content.includes(lineText)) continue;
    const column = content.indexOf(text);
    assert.ok(column >= 0, `"${text}" is not on the line "${content}"`);
    return new vscode.Position(line, column + 1);
  }
  throw new Error(`no line of ${document.uri.fsPath} holds "${lineText}"`);
}

/** The text of every part of a set of hovers. */
export function hoverText(hovers: readonly vscode.Hover[]): string {
  return hovers
    .flatMap((hover) => hover.contents)
    .map((content) => (typeof content === 'string' ? content : content.value))
    .join('\n');
}

/** The open editor tabs that show the playground (the webview's view type carries a prefix). */
export function playgroundTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .filter((tab) => tab.input instanceof vscode.TabInputWebview && tab.input.viewType.endsWith(PLAYGROUND_VIEW_TYPE));
}

export async function closePlaygroundTabs(): Promise<void> {
  const tabs = playgroundTabs();
  if (tabs.length) await vscode.window.tabGroups.close(tabs);
}

/** A small separable block: a 3x3 depthwise conv with BN and ReLU6, then a 1x1 pointwise conv. */
export const SMALL_MODEL: ModelSpec = {
  name: 'integration block',
  input_shape: [1, 4, 12, 12],
  layers: [
    { type: 'Conv2d', in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 4, bias: false },
    { type: 'BatchNorm2d', num_features: 4 },
    { type: 'ReLU6' },
    { type: 'Conv2d', in_channels: 4, out_channels: 8, kernel_size: 1 },
  ],
};

/** A deterministic input for {@link SMALL_MODEL}: a ramp, so that every pixel differs. */
export function smallInput(): { shape: number[]; data: ArrayBuffer } {
  const shape = [1, 4, 12, 12];
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 0.37) + (i % 7) / 7;
  return { shape, data: values.buffer };
}

let nextRequestId = 1;

/** Sends a run request through the API as the page would, and returns the host's result (or throws its error). */
export async function runOnHost(api: SepConvApi, body: Partial<RunRequestBody> & Pick<RunRequestBody, 'backend'>): Promise<RunResult> {
  const requestId = nextRequestId++;
  const message = {
    type: 'request',
    requestId,
    method: 'run',
    body: { model: SMALL_MODEL, input: smallInput(), weights: { kind: 'seed', seed: 7 }, intermediates: true, ...body },
  };
  const response = await api.answerPlaygroundRequest(message);
  assert.equal(response.requestId, requestId, 'the response carries another request id');
  if (!response.ok) throw new Error(`the host answered the run request with an error: ${response.error}`);
  return response.result as RunResult;
}

/** The float32 values of the latest run's output (or of one step's), read back as the page reads them. */
export async function readRunTensor(api: SepConvApi, runId: number, step?: string): Promise<{ shape: number[]; data: Float32Array }> {
  const requestId = nextRequestId++;
  const response = await api.answerPlaygroundRequest({
    type: 'request',
    requestId,
    method: 'readTensor',
    body: step === undefined ? { runId } : { runId, step },
  });
  if (!response.ok) throw new Error(`the host answered the readTensor request with an error: ${response.error}`);
  const tensor = response.result as { shape: number[]; data: ArrayBuffer };
  return { shape: tensor.shape, data: new Float32Array(tensor.data) };
}

/**
 * Tells the runner (scripts/runIntegration.mjs) that a reload is coming, reloads the window, and
 * waits for the reload to end this extension host. After the reload the index runs the tests of afterReload/.
 * Under @vscode/test-cli there is no runner to ask: the test fails with a reason.
 */
export async function requestReload(title: string): Promise<never> {
  const resultsFile = process.env.SEPCONV_INTEGRATION_RESULTS;
  if (!resultsFile) {
    throw new Error('a window reload needs the code-server runner (npm run test:integration); @vscode/test-cli cannot survive one');
  }
  fs.appendFileSync(resultsFile, JSON.stringify({ event: 'reload', title }) + '\n');
  // VS Code's own reload: it saves the window's state (the open panel with it) and waits for the
  // save before the page reloads, which a reload from outside the page does not.
  void vscode.commands.executeCommand('workbench.action.reloadWindow');
  return new Promise<never>(() => {
    // The reload ends this extension host; nothing resolves this.
  });
}
