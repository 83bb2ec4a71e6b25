/**
 * The other Python files of the workspace that a document imports (`from .blocks import X`),
 * read through VS Code's file system (open documents from their current text), parsed once and
 * kept until the file changes. The evaluator asks for them synchronously, so they are loaded
 * ahead of an evaluation ({@link WorkspaceImports.prepare}).
 */
import * as vscode from 'vscode';
import type { PythonParser } from '../python/pythonParser';
import type { ImportResolver, SourceFile } from '../python/modelEvaluator';
import { candidatePaths, importCandidates } from '../python/importPaths';
import { skipReason } from '../python/parseCache';
import type { Tree } from 'web-tree-sitter';

/** Files followed from one document, at most: imports of imports are followed this deep. */
const MAX_FILES = 64;
const MAX_DEPTH = 3;

export class WorkspaceImports implements vscode.Disposable {
  /** Path -> parsed file (undefined: there is no such file). */
  private readonly files = new Map<string, SourceFile | undefined>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a file that was read changes: evaluations that used it are stale. */
  readonly onDidChange = this.changed.event;
  /** Bumped on every change of a file that was read. */
  generation = 0;

  constructor(private readonly parser: PythonParser) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.py');
    const drop = (uri: vscode.Uri) => this.drop(uri.fsPath);
    this.disposables.push(
      watcher, this.changed,
      watcher.onDidChange(drop), watcher.onDidCreate(drop), watcher.onDidDelete(drop),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.scheme === 'file' && e.contentChanges.length) this.drop(e.document.uri.fsPath);
      }),
    );
  }

  private drop(file: string): void {
    if (!this.files.has(file)) return;
    this.files.get(file)?.tree.delete();
    this.files.delete(file);
    this.generation++;
    this.changed.fire();
  }

  private async load(file: string): Promise<SourceFile | undefined> {
    if (this.files.has(file)) return this.files.get(file);
    let text: string | undefined;
    const open = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === file);
    if (open) text = open.getText();
    else {
      try {
        text = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(file)));
      } catch {
        text = undefined;
      }
    }
    let tree: Tree | undefined;
    if (text !== undefined && !skipReason(text)) tree = this.parser.parse(text);
    const found = tree ? { path: file, tree } : undefined;
    // Another load of the same file may have finished meanwhile.
    if (this.files.has(file)) {
      tree?.delete();
      return this.files.get(file);
    }
    this.files.set(file, found);
    return found;
  }

  /** Loads what `tree` (the document at `path`) imports, and what those import, so that {@link resolver} finds them. */
  async prepare(tree: Tree, path: string): Promise<void> {
    let frontier: { tree: Tree; path: string }[] = [{ tree, path }];
    let count = 0;
    for (let depth = 0; depth < MAX_DEPTH && frontier.length && count < MAX_FILES; depth++) {
      const next: { tree: Tree; path: string }[] = [];
      for (const f of frontier) {
        for (const candidate of importCandidates(f.tree, f.path)) {
          if (count >= MAX_FILES) break;
          const known = this.files.has(candidate);
          const loaded = await this.load(candidate);
          if (loaded && !known) {
            count++;
            next.push(loaded);
          }
        }
      }
      frontier = next;
    }
  }

  /** Resolves imports from the files loaded so far. */
  resolver(): ImportResolver {
    return (from, module, level) => {
      for (const file of candidatePaths(from, module, level)) {
        const hit = this.files.get(file);
        if (hit) return hit;
      }
      return undefined;
    };
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    for (const f of this.files.values()) f?.tree.delete();
    this.files.clear();
  }
}
