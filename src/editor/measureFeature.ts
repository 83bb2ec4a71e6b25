/**
 * "SepConv: Measure with PyTorch": runs the file's models with the user's own Python (PyTorch or
 * Keras 3) in a child process, through media/python/measure.py, and shows the exact figures in a
 * CodeLens on each model class or builder and in a hover on each layer call, marked as measured.
 * Only in a trusted workspace: measuring executes the workspace's code.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount, formatInteger } from '../shared/format';
import { MeasureError, modelDefinitions, runMeasure, type MeasuredSite, type MeasureResult } from '../python/measureRunner';
import { PYTHON_SELECTOR } from './pythonDocuments';

export const MEASURE_COMMAND = 'sepconv.measure';
export const CANCEL_MEASURE_COMMAND = 'sepconv.cancelMeasure';
/** Seconds a measurement may take unless sepconv.measureTimeout says otherwise. */
const DEFAULT_TIMEOUT_S = 120;
interface Measured {
  version: number;
  /** The document's path relative to the root measure.py was given, '/'-separated. */
  relative: string;
  result: MeasureResult;
}

function frameworkName(text: string): 'PyTorch' | 'Keras' {
  return /^\s*(import|from)\s+(keras|tensorflow)\b/m.test(text) && !/^\s*(import|from)\s+torch\b/m.test(text) ? 'Keras' : 'PyTorch';
}

/** The interpreter: the Python extension's selection, else sepconv.pythonPath, else python3. */
export async function pythonFor(resource: vscode.Uri): Promise<string> {
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (extension) {
    try {
      const api = (extension.isActive ? extension.exports : await extension.activate()) as Record<string, unknown> | undefined;
      const environments = api?.environments as
        | {
            getActiveEnvironmentPath?: (r?: vscode.Uri) => { path?: string };
            resolveEnvironment?: (p: unknown) => Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
          }
        | undefined;
      if (environments?.getActiveEnvironmentPath) {
        const active = environments.getActiveEnvironmentPath(resource);
        const resolved = environments.resolveEnvironment ? await environments.resolveEnvironment(active) : undefined;
        const executable = resolved?.executable?.uri?.fsPath ?? active?.path;
        if (executable) return executable;
      }
      const settings = api?.settings as { getExecutionDetails?: (r?: vscode.Uri) => { execCommand?: string[] } } | undefined;
      const command = settings?.getExecutionDetails?.(resource)?.execCommand?.[0];
      if (command) return command;
    } catch {
      // The Python extension failed to answer: fall back to the setting.
    }
  }
  const configured = vscode.workspace.getConfiguration('sepconv', resource).get<string>('pythonPath')?.trim();
  return configured || 'python3';
}

function siteMarkdown(site: MeasuredSite, result: MeasureResult): string {
  const version = result.framework === 'torch' ? `PyTorch ${result.torch}` : `Keras ${result.keras}`;
  const count = site.instances.reduce((n, i) => n + i.count, 0);
  const shape = (s: number[] | null) => (s ? s.join('×') : 'not reached');
  const lines = [
    `**${site.layer}**: measured with ${version}${site.via ? `, built through \`${site.via}\`` : ''}${count > 1 ? `, ${count} layers built here` : ''}`,
    '',
  ];
  lines.push('| built | params | MACs | input | output |', '|---:|---:|---:|---|---|');
  for (const i of site.instances)
    lines.push(
      `| ${i.count} | ${formatInteger(i.params)} | ${i.macs === null ? '?' : formatCount(i.macs)} | ${shape(i.input_shape)} | ${shape(i.output_shape)} |`,
    );
  lines.push(
    '',
    `_Measured (${result.layout}, MACs counted as torchinfo counts them). The static estimate, where given, is shown beside this; where they differ, the measured figures are right._`,
  );
  return lines.join('\n');
}

export function registerMeasureFeature(context: vscode.ExtensionContext): void {
  const cache = new Map<string, Measured>();
  const running = new Map<string, AbortController>();
  const lensesChanged = new vscode.EventEmitter<void>();
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  status.command = CANCEL_MEASURE_COMMAND;
  context.subscriptions.push(lensesChanged, status, { dispose: () => running.forEach((r) => r.abort()) });

  const current = (document: vscode.TextDocument): Measured | undefined => {
    const hit = cache.get(document.uri.toString());
    return hit && hit.version === document.version ? hit : undefined;
  };

  const measure = async (uri?: unknown): Promise<MeasureResult | undefined> => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage("SepConv: measuring runs the workspace's Python code, so it needs a trusted workspace.");
      return undefined;
    }
    let document: vscode.TextDocument | undefined;
    if (typeof uri === 'string' || uri instanceof vscode.Uri)
      document = await vscode.workspace.openTextDocument(typeof uri === 'string' ? vscode.Uri.parse(uri) : uri);
    else document = vscode.window.activeTextEditor?.document;
    if (!document || document.languageId !== 'python' || document.uri.scheme !== 'file') {
      void vscode.window.showInformationMessage('SepConv: open a Python model file (on disk) to measure it.');
      return undefined;
    }
    // The child runs the file on disk: what the editor shows must be what it runs.
    if (document.isDirty && !(await document.save())) {
      void vscode.window.showWarningMessage('SepConv: save the file first; measuring runs the saved file.');
      return undefined;
    }
    const key = document.uri.toString();
    running.get(key)?.abort();
    const controller = new AbortController();
    running.set(key, controller);
    const file = document.uri.fsPath;
    const root = vscode.workspace.getWorkspaceFolder(document.uri)?.uri.fsPath ?? path.dirname(file);
    const config = vscode.workspace.getConfiguration('sepconv', document.uri);
    const timeoutS = Math.max(1, config.get<number>('measureTimeout') ?? DEFAULT_TIMEOUT_S);
    const inputShape = config.get<number[] | null>('measureInputShape') ?? undefined;
    const version = document.version;
    status.text = `$(sync~spin) SepConv: measuring ${path.basename(file)}…`;
    status.tooltip = 'Click to cancel';
    status.show();
    try {
      const python = await pythonFor(document.uri);
      const result = await runMeasure({
        python,
        file,
        root,
        inputShape: inputShape && inputShape.length ? inputShape : undefined,
        timeoutMs: timeoutS * 1000,
        signal: controller.signal,
        script: context.asAbsolutePath('media/python/measure.py'),
      });
      cache.set(key, { version, relative: path.relative(root, file).split(path.sep).join('/'), result });
      lensesChanged.fire();
      const built = result.entries.filter((e) => e.status === 'measured' || e.status === 'partial').map((e) => e.name);
      void vscode.window.setStatusBarMessage(`SepConv: measured ${built.join(', ')}`, 5000);
      return result;
    } catch (error) {
      if (error instanceof MeasureError && error.failure === 'cancelled') return undefined;
      const message = error instanceof Error ? error.message : String(error);
      const where = error instanceof MeasureError ? error.where : undefined;
      const choice = await vscode.window.showErrorMessage(
        `SepConv: could not measure ${path.basename(file)}: ${message}`,
        ...(where ? ['Go to the error'] : []),
      );
      if (choice && where) {
        const target = vscode.Uri.file(path.join(root, where.file));
        await vscode.window.showTextDocument(target, { selection: new vscode.Range(where.line - 1, 0, where.line - 1, 0) });
      }
      return undefined;
    } finally {
      if (running.get(key) === controller) running.delete(key);
      if (running.size === 0) status.hide();
    }
  };

  context.subscriptions.push(
    vscode.commands.registerCommand(MEASURE_COMMAND, measure),
    vscode.commands.registerCommand(CANCEL_MEASURE_COMMAND, () => running.forEach((r) => r.abort())),
    vscode.workspace.onDidCloseTextDocument((d) => cache.delete(d.uri.toString())),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (cache.has(e.document.uri.toString())) lensesChanged.fire();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => lensesChanged.fire()),

    vscode.languages.registerCodeLensProvider(PYTHON_SELECTOR, {
      onDidChangeCodeLenses: lensesChanged.event,
      provideCodeLenses(document) {
        if (!vscode.workspace.isTrusted || document.uri.scheme !== 'file') return [];
        const text = document.getText();
        const measured = current(document);
        const framework = frameworkName(text);
        return modelDefinitions(text).flatMap((definition) => {
          const range = new vscode.Range(definition.line, definition.character, definition.line, definition.character);
          const entry = measured?.result.entries.find((e) => e.name === definition.name);
          if (measured && !entry) return [];
          let title = `$(beaker) Measure with ${framework}`;
          if (entry && (entry.status === 'measured' || entry.status === 'partial')) {
            title = `$(beaker) measured: ${formatCount(entry.params ?? 0)} params, ${formatCount(entry.macs ?? 0)} MACs at ${entry.input_shape?.join('×') ?? '?'}${entry.status === 'partial' ? ' (forward pass stopped)' : ''}`;
          } else if (entry) {
            title = `$(beaker) not measured: ${entry.reason ?? entry.status}`;
          }
          return [
            new vscode.CodeLens(range, {
              title,
              command: MEASURE_COMMAND,
              arguments: [document.uri.toString()],
              tooltip: `Run ${definition.name} with ${framework} and show the exact figures`,
            }),
          ];
        });
      },
    }),

    vscode.languages.registerHoverProvider(PYTHON_SELECTOR, {
      provideHover(document, position) {
        const measured = current(document);
        if (!measured) return undefined;
        const text = document.lineAt(position.line).text;
        const site = measured.result.sites.find((s) => {
          if (s.file !== measured.relative || s.line - 1 !== position.line) return false;
          const start = s.column - 1;
          const open = text.indexOf('(', start);
          return position.character >= start && position.character <= (open < 0 ? text.length : open);
        });
        if (!site) return undefined;
        const siblings = measured.result.sites.filter((s) => s.file === site.file && s.line === site.line && s.column === site.column);
        const content = new vscode.MarkdownString(siblings.map((s) => siteMarkdown(s, measured.result)).join('\n\n---\n\n'));
        return new vscode.Hover(content);
      },
    }),
  );
}
