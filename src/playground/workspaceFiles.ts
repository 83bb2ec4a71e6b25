/**
 * The workspace files the page may list and read, through VS Code's file system API. The checks
 * on a real file's path, type and size are workspaceRead.ts's (which imports no `vscode`).
 */
import * as vscode from 'vscode';
import type { WorkspaceFile } from '../shared/protocol';
import { exactBuffer } from '../shared/tensor';
import { MAX_READ_BYTES, READABLE_EXTENSIONS, readInsideFolders } from './workspaceRead';

const MAX_LISTED_FILES = 500;

/** The workspace's files of one type, sorted by path (at most 500). */
export async function listWorkspaceFiles(extension: string): Promise<WorkspaceFile[]> {
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
  return { path, data: exactBuffer(bytes) };
}
