/// <reference types="mocha" />
// Hover, CodeLens, the convert-to-separable quick fix and diagnostics on the Python fixtures of
// test/integration/workspace, through VS Code's own commands (vscode.executeHoverProvider, ...),
// so that what is checked is what the editor shows.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedExtension, closePlaygroundTabs, hoverText, openWorkspaceDocument, playgroundTabs, positionOf, waitFor, workspaceUri } from './helpers';

/** The figures of `nn.Conv2d(32, 64, kernel_size=3, padding=1)` at the default 224x224 input. */
const STANDARD = {
  params: 32 * 64 * 3 * 3 + 64, // weight + bias (torchinfo counts the bias)
  macs: (32 * 3 * 3 + 1) * 64 * 224 * 224, // torchinfo: one add per output for the bias
};
const grouped = (n: number) => n.toLocaleString('en-US');

async function hoverAt(document: vscode.TextDocument, lineText: string, text: string): Promise<string> {
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, positionOf(document, lineText, text));
  return hoverText(hovers);
}

suite('Python model code', () => {
  suiteSetup(async () => {
    await activatedExtension();
  });

  teardown(async () => {
    // Tests that edit leave their changes unsaved; the revert keeps the next test's file as it was.
    await vscode.commands.executeCommand('workbench.action.files.revert');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  test('the hover on a Conv2d shows its parameters and MACs, and the separable alternative', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const text = await hoverAt(document, 'standard =', 'Conv2d');
    assert.ok(text.includes(grouped(STANDARD.params)), `the hover does not show ${grouped(STANDARD.params)} params:\n${text}`);
    assert.ok(text.includes(grouped(STANDARD.macs)), `the hover does not show ${grouped(STANDARD.macs)} MACs:\n${text}`);
    assert.match(text, /depthwise-separable/i);
    assert.match(text, /command:sepconv\.convertToSeparable/, 'the hover has no convert link');
  });

  test('the hover follows the sepconv.convention setting', async () => {
    const config = vscode.workspace.getConfiguration('sepconv');
    await config.update('convention', 'fvcore', vscode.ConfigurationTarget.Workspace);
    try {
      const { document } = await openWorkspaceDocument('convs.py');
      // fvcore counts no add for the bias; the parameters stay every trainable one.
      const macsWithoutBias = grouped(STANDARD.macs - 64 * 224 * 224);
      const text = await waitFor(async () => {
        const hover = await hoverAt(document, 'standard =', 'Conv2d');
        return hover.includes(macsWithoutBias) ? hover : undefined;
      }, `the hover to count ${macsWithoutBias} MACs (fvcore: no add for the bias)`, 10_000);
      assert.ok(!text.includes(grouped(STANDARD.macs)), 'the hover still counts the bias adds');
      assert.ok(text.includes(grouped(STANDARD.params)), 'the parameter count changed with the convention');
    } finally {
      await config.update('convention', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('no hover away from a convolution', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const text = await hoverAt(document, 'import torch.nn as nn', 'import');
    assert.doesNotMatch(text, /MACs/);
  });

  test('a CodeLens over a model class totals every layer instance it builds', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri, 100);
    const line = positionOf(document, 'class Features(nn.Module):', 'class').line;
    const lens = lenses.find((l) => l.range.start.line === line && /params/.test(l.command?.title ?? ''));
    assert.ok(lens?.command, `no CodeLens with totals on line ${line + 1}; lenses: ${lenses.map((l) => `${l.range.start.line + 1}: ${l.command?.title}`).join('; ')}`);
    // conv 3->32 3x3 s2 (112x112 out), BN 32, dw 32 3x3, pw 32->64 1x1 at 112x112, from a 224x224 input.
    const params = 3 * 32 * 9 + 32 + 2 * 32 + 32 * 9 + 32 + 32 * 64 + 64;
    assert.ok(lens.command.title.includes(`${(params / 1e3).toFixed(2)}K params`), `expected ${(params / 1e3).toFixed(2)}K params in "${lens.command.title}"`);
    assert.match(lens.command.title, /MACs/);
    assert.match(lens.command.title, /3 conv instances/);
  });

  test('a CodeLens "Open in Playground" over a Sequential opens it, through an id the extension issued', async () => {
    await closePlaygroundTabs();
    const { document } = await openWorkspaceDocument('convs.py');
    const line = positionOf(document, 'self.features = nn.Sequential(', 'nn.Sequential').line;
    const lens = await waitFor(async () => {
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri, 100);
      return lenses.find((l) => l.range.start.line === line && l.command?.title === 'Open in Playground');
    }, 'the "Open in Playground" CodeLens over self.features');
    const args = lens.command!.arguments ?? [];
    assert.equal(args.length, 1);
    assert.match(String(args[0]), /^[0-9a-f]{32}$/, 'the CodeLens carries more than an id');
    await vscode.commands.executeCommand(lens.command!.command, ...args);
    await waitFor(() => playgroundTabs().length === 1, 'the playground tab');
    await closePlaygroundTabs();
  });

  test('the hover follows an edit, and a model built at the top level gets figures from its first layer', async () => {
    const editor = await openWorkspaceDocument('convs.py');
    const { document } = editor;
    await editor.edit((edit) => edit.insert(new vscode.Position(document.lineCount, 0), '\nstem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 1))\n'));
    // The 1x1 conv after a 3x3 stride-2 conv at the default 224x224: 16 x 112 x 112 out, 8 * 16 + 16 params.
    const text = await waitFor(async () => {
      const hover = await hoverAt(document, 'stem = nn.Sequential', 'Conv2d(8, 16');
      return hover.includes('1×16×112×112') ? hover : undefined;
    }, 'the hover on the new top-level Sequential\'s 1x1 conv', 10_000);
    assert.ok(text.includes('| params | 144 |'), `expected 144 params:\n${text}`);
  });

  test('the quick fix converts a standard conv to depthwise + pointwise', async () => {
    const editor = await openWorkspaceDocument('convs.py');
    const { document } = editor;
    const at = positionOf(document, 'standard =', 'Conv2d');
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
      'vscode.executeCodeActionProvider',
      document.uri,
      new vscode.Range(at, at),
      vscode.CodeActionKind.QuickFix.value,
    );
    const convert = actions.find((action) => /separable/i.test(action.title));
    assert.ok(convert?.edit, `no convert action; actions: ${actions.map((a) => a.title).join(', ') || 'none'}`);
    assert.ok(await vscode.workspace.applyEdit(convert.edit));
    const text = document.getText();
    const converted = text.slice(text.indexOf('standard ='), text.indexOf('depthwise ='));
    // In PyTorch terms: a 3x3 conv with groups = in_channels, then a 1x1 conv to 64 channels.
    assert.match(converted, /Conv2d\(32, 32, kernel_size=3, [^)]*groups=32\)/, `no depthwise conv in: ${converted}`);
    assert.match(converted, /Conv2d\(32, 64, kernel_size=1\)/, `no pointwise conv in: ${converted}`);
    // The converted line hovers as a depthwise conv with fewer MACs.
    const hover = await hoverAt(document, 'groups=32)', 'Conv2d');
    assert.match(hover, /depthwise/i);
  });

  test('the hover\'s convert link (sepconv.convertToSeparable) rewrites the conv it names', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const hover = await hoverAt(document, 'standard =', 'Conv2d');
    const link = /command:sepconv\.convertToSeparable\?([^)\s"]+)/.exec(hover);
    assert.ok(link, `no convert link in the hover:\n${hover}`);
    const args = JSON.parse(decodeURIComponent(link[1]!)) as unknown[];
    assert.ok(await vscode.commands.executeCommand('sepconv.convertToSeparable', ...args), 'the command did not apply an edit');
    const text = document.getText();
    const converted = text.slice(text.indexOf('standard ='), text.indexOf('depthwise ='));
    assert.match(converted, /Conv2d\(32, 32, kernel_size=3, [^)]*groups=32\)/, `no depthwise conv in: ${converted}`);
    assert.match(converted, /Conv2d\(32, 64, kernel_size=1\)/, `no pointwise conv in: ${converted}`);
  });

  test('the convert command edits nothing for an id the hover did not make, nor for a document URI and position', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const before = document.getText();
    const at = positionOf(document, 'standard =', 'Conv2d');
    assert.equal(await vscode.commands.executeCommand('sepconv.convertToSeparable', 'f'.repeat(32)), false);
    assert.equal(await vscode.commands.executeCommand('sepconv.convertToSeparable', document.uri.toString(), { line: at.line, character: at.character }), false);
    assert.equal(document.getText(), before, 'the document was edited');
  });

  test('no quick fix on a conv that is already depthwise', async () => {
    const { document } = await openWorkspaceDocument('convs.py');
    const at = positionOf(document, 'depthwise =', 'Conv2d');
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', document.uri, new vscode.Range(at, at), vscode.CodeActionKind.QuickFix.value);
    assert.deepEqual(actions.filter((a) => /separable/i.test(a.title)).map((a) => a.title), []);
  });

  test('diagnostics mark the layers PyTorch would refuse, on the argument at fault', async () => {
    const { document } = await openWorkspaceDocument('problems.py');
    const uri = workspaceUri('problems.py');
    const found = await waitFor(() => {
      const list = vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'SepConv');
      return list.length >= 2 ? list : undefined;
    }, 'SepConv diagnostics on problems.py');
    const groups = found.find((d) => /groups=3/.test(d.message));
    assert.ok(groups, `no diagnostic about groups=3: ${found.map((d) => d.message).join(' | ')}`);
    assert.equal(groups.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(document.getText(groups.range), 'groups=3');
    const same = found.find((d) => /same/.test(d.message) && d.range.start.line === positionOf(document, 'same_strided', 'Conv2d').line);
    assert.ok(same, `no diagnostic on padding="same" with stride 2: ${found.map((d) => d.message).join(' | ')}`);
    const fineLine = positionOf(document, 'fine_same', 'Conv2d').line;
    assert.deepEqual(found.filter((d) => d.range.start.line === fineLine).map((d) => d.message), [], 'padding="same" with stride 1 is fine');
  });

  test('diagnostics follow edits', async () => {
    const editor = await openWorkspaceDocument('problems.py');
    const uri = editor.document.uri;
    await waitFor(() => vscode.languages.getDiagnostics(uri).some((d) => /groups=3/.test(d.message)), 'the groups diagnostic');
    const range = editor.document.getText().indexOf('groups=3');
    await editor.edit((edit) => edit.replace(new vscode.Range(editor.document.positionAt(range), editor.document.positionAt(range + 'groups=3'.length)), 'groups=32'));
    await waitFor(() => !vscode.languages.getDiagnostics(uri).some((d) => /groups=/.test(d.message)), 'the groups diagnostic to go once groups=32 divides both');
  });
});
