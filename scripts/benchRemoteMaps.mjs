#!/usr/bin/env node
// Run -> last feature map drawn, in VS Code (code-server) on the extension host's CPU engine:
// the playground as it runs over a remote connection, where every map the host computes must
// cross the wire to the page. Prints each run's figures and the median.
//
//   node scripts/benchRemoteMaps.mjs [--runs N] [--backend cpu|host-gpu|auto] [--json FILE]
//
// Needs dist/ built (`npm run build`), Chromium and code-server (installed on first use by
// scripts/installCodeServer.mjs). The model is the playground's default: preset
// mobilenet_v1_first3 at 224x224, 7 feature-map grids, 576 channels.

import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, showInCommandPalette, SWIFTSHADER_ICD, workbenchUrl } from './codeServerBrowser.mjs';
import { startCodeServer } from './installCodeServer.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1] : fallback;
}

const runs = Number(option('runs', '7'));
const backend = option('backend', 'cpu');
const jsonFile = option('json', '');
if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`--runs must be 1 to 100, got ${option('runs')}`);
if (!['cpu', 'host-gpu', 'auto'].includes(backend)) throw new Error(`--backend must be cpu, host-gpu or auto, got ${backend}`);
if (!existsSync(join(ROOT, 'dist', 'extension.js')) || !existsSync(join(ROOT, 'dist', 'webview.js'))) {
  throw new Error('dist/ is not built: run `npm run build` first');
}

const scratch = mkdtempSync(join(tmpdir(), 'sepconv-bench-maps-'));
let server;
let context;
try {
  const workspace = join(scratch, 'workspace');
  cpSync(join(ROOT, 'test/integration/workspace'), workspace, { recursive: true });
  server = await startCodeServer({
    userDataDir: join(scratch, 'user-data'),
    extensionsDir: join(scratch, 'extensions'),
    env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES || SWIFTSHADER_ICD },
  });
  context = await launchChromium(join(scratch, 'chromium'), { viewport: { width: 1600, height: 1000 } });
  const page = context.pages()[0] ?? (await context.newPage());
  // A loaded machine can take long to serve the workbench the first time.
  await page.goto(workbenchUrl(server, workspace, [['extensionDevelopmentPath', ROOT]]), { timeout: 180_000 });
  await page.waitForSelector('.monaco-workbench .part.editor', { timeout: 180_000 });

  await showInCommandPalette(page, 'SepConv: Open Playground');
  // The row itself, not Enter: "SepConv: Open Model in Playground" matches the same letters and may be listed first.
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'SepConv: Open Playground' }).first().click();
  const frame = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
  await frame.locator('#run').waitFor({ timeout: 60_000 });
  await frame.locator('#backend').selectOption(backend);

  const results = [];
  // One warm-up run (the engine worker starts, the WebAssembly kernels compile), then the measured ones.
  for (let i = 0; i <= runs; i++) {
    await frame.locator('#run-status').evaluate((status) => {
      for (const key of Object.keys(status.dataset)) delete status.dataset[key];
      status.textContent = '';
    });
    await frame.locator('#run:not([disabled])').click({ timeout: 60_000 });
    await frame
      .locator('#run-status[data-painted-ms]')
      .or(frame.locator('#run-status', { hasText: /failed/i }))
      .first()
      .waitFor({ timeout: 150_000 });
    const figures = await frame.locator('#run-status').evaluate((status) => ({ text: status.textContent ?? '', ...status.dataset }));
    if (/failed/i.test(figures.text)) throw new Error(figures.text);
    if (i === 0) continue;
    const number = (key) => (figures[key] === undefined ? undefined : Number(figures[key]));
    const row = {
      drawnMs: number('drawnMs'),
      paintedMs: number('paintedMs'),
      engineMs: number('engineMs'),
      hostMs: number('hostMs'),
      answerMs: number('answerMs'),
      paintMs: number('paintMs'),
      roundTripMs: number('roundTripMs'),
      drawMs: number('drawMs'),
      backend: figures.backend,
    };
    results.push(row);
    const part = (label, value) => (value === undefined ? '' : `, ${label} ${value.toFixed(1)}`);
    console.log(
      `run ${i}: Run -> last map drawn ${row.drawnMs.toFixed(1)} ms (engine ${row.engineMs.toFixed(1)}${part('at the host', row.hostMs)}${part('answer arrived', row.answerMs)}` +
        `${part('painted', row.paintMs)}, round trip ${row.roundTripMs.toFixed(1)}, drawn ${row.drawMs.toFixed(1)}, on screen ${row.paintedMs.toFixed(1)})`,
    );
  }
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const summary = {
    backend,
    runs,
    medianDrawnMs: median(results.map((r) => r.drawnMs)),
    medianEngineMs: median(results.map((r) => r.engineMs)),
    medianRoundTripMs: median(results.map((r) => r.roundTripMs)),
    medianPaintedMs: median(results.map((r) => r.paintedMs)),
  };
  console.log(
    `median of ${runs} (${backend}): Run -> last map drawn ${summary.medianDrawnMs.toFixed(1)} ms, engine ${summary.medianEngineMs.toFixed(1)} ms, ` +
      `round trip ${summary.medianRoundTripMs.toFixed(1)} ms, on screen ${summary.medianPaintedMs.toFixed(1)} ms`,
  );
  if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify({ summary, results }, null, 2)}\n`);
} finally {
  await context?.close().catch(() => {});
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
