/**
 * Hover, CodeLens, code actions and diagnostics on Python model code. Thin adapters over the
 * analysis worker's results (pythonDocuments.ts): the parsing, evaluation, costing and wording
 * happen in the worker and in src/python; nothing here reads the code.
 */
import * as vscode from 'vscode';
import { PythonDocuments, PYTHON_SELECTOR, toRange } from './pythonDocuments';
import { siteHoverMarkdown, modelLensTitle } from '../python/sitePresentation';
import type { RewriteSite } from '../python/analysisProtocol';
import { rewriteAt, type Results } from '../python/analysisClient';
import { CONVERT_COMMAND, OPEN_PLAYGROUND_COMMAND, UNKNOWN_LINK_MESSAGE, type CommandLinkTable } from './commandLinks';

/** The hover's links run only these, each with an id into `links` (never arguments from the document). */
const TRUSTED_COMMANDS = [OPEN_PLAYGROUND_COMMAND, CONVERT_COMMAND];
/** What the hover registers for the convert command: the document, its version and where the call starts (0-based). */
type ConvertArgs = [uri: string, position: { line: number; character: number }, version: number];

function workspaceEdit(document: vscode.TextDocument, rewrite: RewriteSite): vscode.WorkspaceEdit {
  const edit = new vscode.WorkspaceEdit();
  for (const e of rewrite.edits) edit.replace(document.uri, new vscode.Range(document.positionAt(e.start), document.positionAt(e.end)), e.newText);
  return edit;
}

/** `links` holds the command arguments of hovers and CodeLens; the commands take an id from it, or nothing (the palette: the cursor). */
export function registerEditorFeatures(context: vscode.ExtensionContext, links: CommandLinkTable): void {
  const documents = new PythonDocuments(context.extensionPath);
  const diagnostics = vscode.languages.createDiagnosticCollection('sepconv');
  const lensesChanged = new vscode.EventEmitter<void>();
  context.subscriptions.push(documents, diagnostics, lensesChanged);
  /** The playground ids of a version's lenses, so that asking again for the same lenses registers nothing new. */
  const playgroundIds = new WeakMap<Results, string[]>();

  const showDiagnostics = (results: Results) => {
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === results.key);
    // Results of an older version would mark the wrong places: the current version's come soon.
    if (!document || document.isClosed || document.version !== results.version) return;
    diagnostics.set(
      document.uri,
      results.diagnostics.map((d) => {
        const diagnostic = new vscode.Diagnostic(toRange(d.span), d.message, d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
        diagnostic.source = 'SepConv';
        diagnostic.code = d.code;
        return diagnostic;
      }),
    );
  };

  context.subscriptions.push(
    documents.onDidChangeResults((results) => {
      showDiagnostics(results);
      lensesChanged.fire();
    }),
    vscode.workspace.onDidCloseTextDocument((d) => diagnostics.delete(d.uri)),

    vscode.languages.registerHoverProvider(PYTHON_SELECTOR, {
      async provideHover(document, position, token) {
        const offset = document.offsetAt(position);
        const found = await documents.siteAt(document, offset);
        if (!found || token.isCancellationRequested) return undefined;
        const { row, rewrite } = found;
        let convertLink: string | undefined;
        if (rewrite) {
          // The link carries an id into `links`, never the arguments themselves (see commandLinks.ts).
          const start = document.positionAt(row.start);
          const args: ConvertArgs = [document.uri.toString(), { line: start.line, character: start.character }, document.version];
          convertLink = `[Convert to depthwise separable](${links.target(CONVERT_COMMAND, args)})`;
        }
        const content = new vscode.MarkdownString(siteHoverMarkdown(row, documents.currentSettings, convertLink));
        content.isTrusted = { enabledCommands: TRUSTED_COMMANDS };
        content.supportHtml = false;
        return new vscode.Hover(content, new vscode.Range(document.positionAt(row.start), document.positionAt(row.end)));
      },
    }),

    vscode.languages.registerCodeLensProvider(PYTHON_SELECTOR, {
      onDidChangeCodeLenses: lensesChanged.event,
      async provideCodeLenses(document, token) {
        const results = (await documents.results(document, token)) ?? documents.latest(document);
        if (!results || token.isCancellationRequested) return [];
        const lenses: vscode.CodeLens[] = [];
        for (const model of results.models) {
          const title = modelLensTitle(model);
          if (!title) continue;
          const at = new vscode.Range(model.line, model.column, model.line, model.column);
          lenses.push(new vscode.CodeLens(at, { title, command: '' }));
        }
        let ids = playgroundIds.get(results);
        if (!ids) playgroundIds.set(results, (ids = results.playground.map((site) => links.id(OPEN_PLAYGROUND_COMMAND, [{ model: site.model }]))));
        results.playground.forEach((site, i) => {
          const at = new vscode.Range(site.line, site.column, site.line, site.column);
          // The command gets an id into `links`; the model stays on the extension's side.
          lenses.push(new vscode.CodeLens(at, { title: 'Open in Playground', command: OPEN_PLAYGROUND_COMMAND, arguments: [ids[i]], tooltip: `Open ${site.name} in the SepConv playground` }));
        });
        return lenses;
      },
    }),

    vscode.languages.registerCodeActionsProvider(PYTHON_SELECTOR, {
      async provideCodeActions(document, range, actionContext, token) {
        const results = await documents.results(document, token);
        if (!results || token.isCancellationRequested) return [];
        const rewrite = rewriteAt(results, document.offsetAt(range.start));
        if (!rewrite) return [];
        const wantsQuickFix = actionContext.only && vscode.CodeActionKind.QuickFix.contains(actionContext.only);
        const action = new vscode.CodeAction(rewrite.title, wantsQuickFix ? vscode.CodeActionKind.QuickFix : vscode.CodeActionKind.RefactorRewrite);
        action.edit = workspaceEdit(document, rewrite);
        return [action];
      },
    }, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix, vscode.CodeActionKind.RefactorRewrite] }),

    vscode.commands.registerCommand(CONVERT_COMMAND, async (id?: unknown, ...rest: unknown[]) => {
      let document: vscode.TextDocument;
      let at: vscode.Position;
      if (id === undefined && rest.length === 0) {
        // From the command palette: the active editor, at the cursor.
        const editor = vscode.window.activeTextEditor;
        if (!editor || editor.document.languageId !== 'python') {
          void vscode.window.showInformationMessage('SepConv: open a Python file and put the cursor on a convolution to convert it.');
          return false;
        }
        document = editor.document;
        at = editor.selection.active;
      } else {
        // From a hover link: only an id the hover registered; its document must still be the version hovered.
        const registered = rest.length === 0 ? (links.resolve(CONVERT_COMMAND, id) as ConvertArgs | undefined) : undefined;
        const [uri, position, version] = registered ?? [];
        const open = uri === undefined ? undefined : vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
        if (!open || !position || open.version !== version) {
          void vscode.window.showInformationMessage(UNKNOWN_LINK_MESSAGE);
          return false;
        }
        document = open;
        at = new vscode.Position(position.line, position.character);
      }
      const results = await documents.results(document);
      const rewrite = results && rewriteAt(results, document.offsetAt(at));
      if (!rewrite) {
        void vscode.window.showInformationMessage('SepConv: no standard convolution to convert here.');
        return false;
      }
      return vscode.workspace.applyEdit(workspaceEdit(document, rewrite));
    }),
  );
}
