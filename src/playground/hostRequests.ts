/**
 * What the host does for each request of the page: one handler per method. The message has been
 * checked by `parseFromWebview`; what only the host can check (that a path is inside a workspace
 * folder, that the file exists and is small enough) is workspaceFiles.ts's.
 */
import * as vscode from 'vscode';
import { writeFileAtomic, type AtomicWriteFileSystem } from '../shared/atomicWrite';
import type { RequestMap, RequestMessage, ResponseMessage } from '../shared/protocol';
import { callHandler, type RequestHandlers } from '../shared/requests';
import { runOnHost, probeHostGpu } from './hostRunner';
import { listWorkspaceFiles, readWorkspaceFile } from './workspaceFiles';
import type { WeightMap } from '../engine/types';
import type { RunStore } from './runStore';
import type { HeldInputs } from './heldInputs';

export interface RequestContext {
  signal: AbortSignal;
  progress(done: number, total: number, label: string): void;
  /** The panel's latest run, whose values `readTensor` reads. */
  runs: RunStore;
  /** The panel's latest inputs (see HeldInput). */
  inputs: HeldInputs;
  /** The trained weights of the model file opened in the panel, if any. */
  importedWeights?: WeightMap;
}

/** What the host does for each method. */
const handlers: RequestHandlers<RequestMap, RequestContext> = {
  run: (body, context) => runOnHost(body, context),
  probeHostGpu: () => probeHostGpu(),
  listWorkspaceFiles: (body) => listWorkspaceFiles(body.extension),
  readWorkspaceFile: (body) => readWorkspaceFile(body.path),
  saveFile: (body) => saveFile(body.suggestedName, body.content),
  copyText: async (body) => {
    await vscode.env.clipboard.writeText(body.text);
    return {};
  },
  readTensor: (body, context) => context.runs.read(body),
};

/** The response to a checked request: its result, or its error as `{ok: false}`. Never throws. */
export async function answerRequest(message: RequestMessage, context: RequestContext): Promise<ResponseMessage> {
  try {
    return { type: 'response', requestId: message.requestId, ok: true, result: await callHandler(handlers, message.method, message.body, context) };
  } catch (error) {
    return { type: 'response', requestId: message.requestId, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The text sent back for a message that `parseFromWebview` turned down. */
export function rejectionText(error: string): string {
  return `Rejected by the host: ${error}`;
}

async function saveFile(suggestedName: string, content: string | ArrayBuffer): Promise<{ path?: string }> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.joinPath(folder, suggestedName) : undefined, saveLabel: 'Export' });
  if (!target) return {};
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : new Uint8Array(content);
  await writeFileAtomic(target, bytes, workspaceFileSystem);
  return { path: target.fsPath };
}

/** vscode.workspace.fs for {@link writeFileAtomic}: an export never leaves a half-written file. */
const workspaceFileSystem: AtomicWriteFileSystem<vscode.Uri> = {
  sibling: (target, name) => vscode.Uri.joinPath(target, '..', name),
  baseName: (target) => target.path.slice(target.path.lastIndexOf('/') + 1),
  writeNew: async (location, bytes) => vscode.workspace.fs.writeFile(location, bytes),
  rename: async (from, to) => vscode.workspace.fs.rename(from, to, { overwrite: true }),
  remove: async (location) => vscode.workspace.fs.delete(location).then(undefined, () => undefined),
};
