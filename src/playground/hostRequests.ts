/**
 * What the host does for each request of the page. The message has been checked by
 * `parseFromWebview`; this module still checks what only the host can check (that a path is
 * inside a workspace folder and that the file exists and is small enough).
 */
import * as vscode from 'vscode';
import { writeFileAtomic, type AtomicWriteFileSystem } from '../shared/atomicWrite';
import type { RequestMap, RequestMessage, RequestType, ResponseMessage, WorkspaceFile } from '../shared/protocol';
import { runOnHost, probeHostGpu } from './hostRunner';
import type { WeightMap } from '../engine/types';
import type { RunStore } from './runStore';
import { MAX_READ_BYTES, READABLE_EXTENSIONS, readInsideFolders } from './workspaceRead';

const MAX_LISTED_FILES = 500;

export interface RequestContext {
  signal: AbortSignal;
  extensionUri: vscode.Uri;
  progress(done: number, total: number, label: string): void;
  /** The panel's latest run, whose values `readTensor` reads. */
  runs: RunStore;
  /** The trained weights of the model file opened in the panel, if any. */
  importedWeights?: WeightMap;
}

/** The response to a checked request: its result, or its error as `{ok: false}`. Never throws. */
export async function answerRequest(message: RequestMessage, context: RequestContext): Promise<ResponseMessage> {
  try {
    return { type: 'response', requestId: message.requestId, ok: true, result: await handleRequest(message, context) };
  } catch (error) {
    return { type: 'response', requestId: message.requestId, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** The text sent back for a message that `parseFromWebview` turned down. */
export function rejectionText(error: string): string {
  return `Rejected by the host: ${error}`;
}

async function handleRequest(message: RequestMessage, context: RequestContext): Promise<RequestMap[RequestType]['result']> {
  switch (message.method) {
    case 'run':
      return runOnHost(message.body, context);
    case 'probeHostGpu':
      return probeHostGpu();
    case 'listWorkspaceFiles':
      return listWorkspaceFiles(message.body.extension);
    case 'readWorkspaceFile':
      return readWorkspaceFile(message.body.path);
    case 'saveFile':
      return saveFile(message.body.suggestedName, message.body.content);
    case 'copyText':
      await vscode.env.clipboard.writeText(message.body.text);
      return {};
    case 'readTensor':
      return context.runs.read(message.body);
  }
}

async function listWorkspaceFiles(extension: string): Promise<WorkspaceFile[]> {
  const uris = await vscode.workspace.findFiles(`**/*${extension}`, '**/node_modules/**', MAX_LISTED_FILES);
  const files = await Promise.all(
    uris.map(async (uri) => {
      const stat = await vscode.workspace.fs.stat(uri);
      return { path: vscode.workspace.asRelativePath(uri, true).replace(/\\/g, '/'), bytes: stat.size };
    }),
  );
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** Resolves a workspace-relative path (as listWorkspaceFiles gives them) to a file inside a workspace folder. */
export function resolveWorkspacePath(path: string): vscode.Uri {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) throw new Error('no workspace folder is open');
  const [first, ...rest] = path.split('/');
  // With several folders asRelativePath prefixes the folder name.
  const named = folders.length > 1 ? folders.find((f) => f.name === first) : undefined;
  const folder = named ?? folders[0]!;
  const relative = named ? rest : [first!, ...rest];
  return vscode.Uri.joinPath(folder.uri, ...relative);
}

/**
 * A workspace file for the page: only the types of {@link READABLE_EXTENSIONS}, real path (links
 * resolved) inside a workspace folder, a regular file of at most {@link MAX_READ_BYTES}.
 */
export async function readWorkspaceFile(path: string): Promise<{ path: string; data: ArrayBuffer }> {
  const uri = resolveWorkspacePath(path);
  let bytes: Uint8Array;
  if (uri.scheme === 'file') {
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    bytes = await readInsideFolders(folders, uri.fsPath, path);
  } else {
    // A virtual file system: no real path to resolve, so links are refused outright.
    if (!READABLE_EXTENSIONS.some((e) => uri.path.toLowerCase().endsWith(e))) throw new Error(`${path}: the playground reads only ${READABLE_EXTENSIONS.join(', ')} files`);
    let stat: vscode.FileStat;
    try {
      stat = await vscode.workspace.fs.stat(uri);
    } catch {
      throw new Error(`${path}: no such file in the workspace`);
    }
    if (stat.type !== vscode.FileType.File) throw new Error(`${path}: not a regular file`);
    if (stat.size > MAX_READ_BYTES) throw new Error(`${path} is ${stat.size} bytes, more than the ${MAX_READ_BYTES} the playground reads`);
    bytes = await vscode.workspace.fs.readFile(uri);
  }
  return { path, data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer };
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
