/**
 * The other Python files of the workspace that a document imports (`from .blocks import X`), as
 * the analysis worker asks for them: read through VS Code's file system (an open document from its
 * current text). The worker keeps what it read until the file changes: this watches for that.
 */
import * as vscode from 'vscode';

/** Files larger than this are not read for an import (the worker would not parse them either). */
const MAX_IMPORT_BYTES = 1024 * 1024;

/** The text of a workspace file, or undefined when there is none (or it is too large to be a model file). */
export async function readWorkspaceFile(path: string): Promise<string | undefined> {
  // The worker asks only for the files an import may be (see importPaths.ts): Python sources.
  if (!path.endsWith('.py')) return undefined;
  const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === path);
  if (open) return open.getText();
  try {
    const uri = vscode.Uri.file(path);
    const stat = await vscode.workspace.fs.stat(uri);
    if (stat.type !== vscode.FileType.File || stat.size > MAX_IMPORT_BYTES) return undefined;
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  } catch {
    return undefined;
  }
}

/** Calls `changed(path)` when a Python file of the workspace changes on disk or in an editor. */
export function watchPythonFiles(changed: (path: string) => void): vscode.Disposable {
  const watcher = vscode.workspace.createFileSystemWatcher('**/*.py');
  const drop = (uri: vscode.Uri) => changed(uri.fsPath);
  return vscode.Disposable.from(
    watcher,
    watcher.onDidChange(drop), watcher.onDidCreate(drop), watcher.onDidDelete(drop),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.scheme === 'file' && e.contentChanges.length) changed(e.document.uri.fsPath);
    }),
  );
}
