/**
 * Hover, CodeLens, code actions and diagnostics on Python model code. Thin adapters: the
 * reading, costing and wording live in src/python and src/shared. Nothing is loaded until a
 * provider is first asked about a Python document.
 */
import * as vscode from 'vscode';
import { PythonDocuments, PYTHON_SELECTOR, SETTLE_DELAY_MS, toRange } from './pythonDocuments';
import { hoverInput, hoverMarkdown, codeLensTitle } from '../python/costPresentation';
import { separableRewrite, canRewrite } from '../python/separableRewrite';
import { CONVERT_COMMAND, OPEN_PLAYGROUND_COMMAND, UNKNOWN_LINK_MESSAGE, type CommandLinkTable } from './commandLinks';

/** The hover's links run only these, each with an id into `links` (never arguments from the document). */
const TRUSTED_COMMANDS = [OPEN_PLAYGROUND_COMMAND, CONVERT_COMMAND];
/** What the hover registers for the convert command: the document, its version and where the call starts (0-based). */
type ConvertArgs = [uri: string, position: { line: number; character: number }, version: number];

/** `links` holds the hover's command arguments; the convert command takes an id from it, or nothing (the palette: the cursor). */
export function registerEditorFeatures(context: vscode.ExtensionContext, links: CommandLinkTable): void {
  const documents = new PythonDocuments(context.extensionPath);
  const diagnostics = vscode.languages.createDiagnosticCollection('sepconv');
  const lensesChanged = new vscode.EventEmitter<void>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  context.subscriptions.push(documents, diagnostics, lensesChanged);

  const refreshDiagnostics = async (document: vscode.TextDocument) => {
    if (document.languageId !== 'python') return;
    const analysis = await documents.analysis(document);
    if (document.isClosed) return;
    diagnostics.set(
      document.uri,
      (analysis?.diagnostics ?? []).map((d) => {
        const diagnostic = new vscode.Diagnostic(toRange(d.span), d.message, d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
        diagnostic.source = 'SepConv';
        diagnostic.code = d.code;
        return diagnostic;
      }),
    );
  };
  const schedule = (document: vscode.TextDocument) => {
    if (document.languageId !== 'python') return;
    const key = document.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => {
      timers.delete(key);
      void refreshDiagnostics(document);
    }, SETTLE_DELAY_MS));
  };

  context.subscriptions.push(
    vscode.workspace.onDidOpenTextDocument(schedule),
    vscode.workspace.onDidChangeTextDocument((e) => schedule(e.document)),
    vscode.workspace.onDidCloseTextDocument((d) => {
      const key = d.uri.toString();
      clearTimeout(timers.get(key));
      timers.delete(key);
      diagnostics.delete(d.uri);
    }),
    documents.onDidChange(() => {
      lensesChanged.fire();
      for (const d of vscode.workspace.textDocuments) schedule(d);
    }),
    { dispose: () => timers.forEach((t) => clearTimeout(t)) },

    vscode.languages.registerHoverProvider(PYTHON_SELECTOR, {
      async provideHover(document, position, token) {
        const focused = await documents.analysisAt(document, document.offsetAt(position));
        if (!focused || token.isCancellationRequested) return undefined;
        const { analysis, call: index } = focused;
        const call = analysis.code.calls[index]!;
        const convertArgs: ConvertArgs = [document.uri.toString(), { line: call.span.startLine, character: call.span.startColumn }, document.version];
        const markdown = hoverMarkdown({ ...hoverInput(analysis, index, documents.currentSettings, convertArgs), links });
        if (!markdown) return undefined;
        const content = new vscode.MarkdownString(markdown);
        content.isTrusted = { enabledCommands: TRUSTED_COMMANDS };
        return new vscode.Hover(content, toRange(call.callee.span));
      },
    }),

    vscode.languages.registerCodeLensProvider(PYTHON_SELECTOR, {
      onDidChangeCodeLenses: lensesChanged.event,
      async provideCodeLenses(document, token) {
        // The whole file is read: only once typing has paused, so that it never holds up a hover.
        if (!(await documents.settled(document, token))) return [];
        const analysis = await documents.analysis(document);
        if (!analysis || token.isCancellationRequested) return [];
        const lenses: vscode.CodeLens[] = [];
        analysis.code.containers.forEach((container, index) => {
          const parent = container.parent === undefined ? undefined : analysis.code.containers[container.parent];
          if (parent && (parent.kind === 'torch-sequential' || parent.kind === 'keras-sequential')) return;
          const estimate = analysis.estimates.containers[index]!;
          const title = codeLensTitle(container, estimate);
          if (!title) return;
          const line = new vscode.Range(container.span.startLine, container.span.startColumn, container.span.startLine, container.span.startColumn);
          lenses.push(new vscode.CodeLens(line, estimate.model
            ? { title, command: 'sepconv.openPlayground', arguments: [{ model: estimate.model }], tooltip: 'Open in the SepConv playground' }
            : { title, command: '' }));
        });
        return lenses;
      },
    }),

    vscode.languages.registerCodeActionsProvider(PYTHON_SELECTOR, {
      async provideCodeActions(document, range, actionContext, token) {
        const focused = await documents.analysisAt(document, document.offsetAt(range.start));
        if (!focused || token.isCancellationRequested) return [];
        const { analysis, call: index } = focused;
        if (!canRewrite(analysis.code.calls[index]!)) return [];
        const rewrite = separableRewrite(analysis.code.calls[index]!, analysis.code, document.getText());
        if (!rewrite) return [];
        const wantsQuickFix = actionContext.only && vscode.CodeActionKind.QuickFix.contains(actionContext.only);
        const action = new vscode.CodeAction(rewrite.title, wantsQuickFix ? vscode.CodeActionKind.QuickFix : vscode.CodeActionKind.RefactorRewrite);
        action.edit = new vscode.WorkspaceEdit();
        for (const edit of rewrite.edits) action.edit.replace(document.uri, new vscode.Range(document.positionAt(edit.start), document.positionAt(edit.end)), edit.newText);
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
      const focused = await documents.analysisAt(document, document.offsetAt(at));
      const rewrite = focused ? separableRewrite(focused.analysis.code.calls[focused.call]!, focused.analysis.code, document.getText()) : undefined;
      if (!rewrite) {
        void vscode.window.showInformationMessage('SepConv: no standard convolution to convert here.');
        return false;
      }
      const edit = new vscode.WorkspaceEdit();
      for (const e of rewrite.edits) edit.replace(document.uri, new vscode.Range(document.positionAt(e.start), document.positionAt(e.end)), e.newText);
      return vscode.workspace.applyEdit(edit);
    }),
  );
  for (const document of vscode.workspace.textDocuments) {
    documents.warm(document);
    schedule(document);
  }
}
