/**
 * The playground as a person uses it: the standalone page (`npm run web`, the same bundle as the
 * VS Code panel) in headless Chromium with SwiftShader's WebGPU. Pick a preset, load a sample,
 * run on the CPU and on WebGPU, check the drawn feature maps against the engine's output computed
 * here, the cost table against the cost model, and that an invalid layer blocks the run.
 * Screenshots go to media/screenshots/ (for the README) and test-results/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forward } from '../../src/engine/forward';
import { makeWeights } from '../../src/engine/weights';
import { pytorchCode } from '../../src/shared/codegen';
import { costModel } from '../../src/shared/cost';
import { formatCount } from '../../src/shared/format';
import { getPreset } from '../../src/shared/presets';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { colorizeGrid, colormapLut, gridLayout, valueRange } from '../../webview/colormap';
import { imageToTensor } from '../../webview/patterns';
import { decodePng } from './png';

const ROOT = join(__dirname, '../..');
const SCREENSHOTS = join(ROOT, 'media/screenshots');
const RESULTS = join(ROOT, 'test-results');

let server: ChildProcess;
let baseUrl: string;
let context: BrowserContext;
let page: Page;
let profile: string;

async function startServer(): Promise<string> {
  server = spawn(process.execPath, ['scripts/web.mjs', '--port', '0', '--no-build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the web server did not start: ${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.on('exit', (code) => reject(new Error(`the web server exited (${code}): ${output}`)));
  });
}

beforeAll(async () => {
  execFileSync(process.execPath, ['esbuild.mjs', '--only=webview,webviewWorker', '--no-typecheck'], { cwd: ROOT, stdio: 'inherit' });
  baseUrl = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'sepconv-e2e-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1440, height: 1000 },
  });
  page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  (page as Page & { problems?: string[] }).problems = problems;
  await page.goto(baseUrl);
  await page.waitForSelector('#run');
  mkdirSync(SCREENSHOTS, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  await context?.close();
  if (server && server.exitCode === null) server.kill('SIGTERM');
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function screenshot(name: string): Promise<void> {
  const buffer = await page.screenshot({ fullPage: false });
  writeFileSync(join(RESULTS, name), buffer);
  writeFileSync(join(SCREENSHOTS, name), buffer);
}

async function loadPreset(name: string): Promise<void> {
  await page.selectOption('#preset', name);
  await page.click('#load-preset');
}

/** Clicks Run and waits for the last feature map to be drawn; returns the status's figures. */
async function run(backend: 'cpu' | 'webview-gpu'): Promise<{ drawnMs: number; engineMs: number; text: string }> {
  await page.selectOption('#backend', backend);
  await page.evaluate(() => {
    const status = document.querySelector<HTMLElement>('#run-status')!;
    delete status.dataset.drawnMs;
    status.textContent = '';
  });
  await expect(page.isDisabled('#run')).resolves.toBe(false);
  await page.click('#run');
  await page.waitForFunction(() => {
    const status = document.querySelector<HTMLElement>('#run-status')!;
    return status.dataset.drawnMs !== undefined || /failed/i.test(status.textContent ?? '');
  }, null, { timeout: 150_000 });
  const status = await page.$eval('#run-status', (e) => ({ text: e.textContent ?? '', drawnMs: Number((e as HTMLElement).dataset.drawnMs), engineMs: Number((e as HTMLElement).dataset.engineMs) }));
  expect(status.text).not.toMatch(/failed/i);
  return status;
}

/** The engine's intermediates for the same model, weights and input, computed here on the CPU. */
async function expectedSteps(model: ModelSpec, seed: number, sample: string) {
  const png = decodePng(readFileSync(join(ROOT, 'media/samples', `${sample}.png`)));
  const input = imageToTensor(png, 3, 'unit');
  const resolved = resolveModel(model, { inputShape: input.shape });
  const result = await forward(resolved, makeWeights(resolved, { kind: 'seed', seed }), input, { backend: 'cpu', intermediates: true });
  return result.intermediates!;
}

/** Compares every drawn grid with the grid drawn from the expected tensors (same colormap code). */
async function compareGrids(steps: Awaited<ReturnType<typeof expectedSteps>>): Promise<void> {
  const lut = colormapLut('viridis');
  for (const step of steps) {
    const drawn = await page.$eval(`canvas.map-grid[data-key="${step.key}"]`, (canvas) => {
      // The grid canvas holds the worker's bitmap ('bitmaprenderer') or a repaint ('2d'): read either through a copy.
      const c = canvas as HTMLCanvasElement;
      const copy = new OffscreenCanvas(c.width, c.height).getContext('2d')!;
      copy.drawImage(c, 0, 0);
      const pixels = copy.getImageData(0, 0, c.width, c.height).data;
      let binary = '';
      for (let i = 0; i < pixels.length; i += 0x8000) binary += String.fromCharCode(...pixels.subarray(i, i + 0x8000));
      return { base64: btoa(binary), channels: Number(c.dataset.channels), columns: Number(c.dataset.columns), width: c.width, height: c.height };
    });
    const [, channels, height, width] = step.tensor.shape as [number, number, number, number];
    expect(drawn.channels).toBe(Math.min(channels, 128));
    const layout = gridLayout(drawn.channels, width, height, drawn.columns);
    expect([drawn.width, drawn.height]).toEqual([layout.width, layout.height]);
    const expected = new Uint8ClampedArray(layout.width * layout.height * 4);
    const plane = width * height;
    colorizeGrid(step.tensor.data, drawn.channels, layout, (c) => valueRange(step.tensor.data, c * plane, plane), lut, expected);
    const actual = Buffer.from(drawn.base64, 'base64');
    let exact = 0;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      const difference = Math.abs(actual[i]! - expected[i]!);
      if (difference === 0) exact++;
      if (difference > worst) worst = difference;
    }
    // Float differences between backends can move a value across a colormap bin boundary (one
    // LUT step, at most 12 levels in viridis); anything more is a wrong feature map.
    expect(exact / expected.length, `${step.key}: share of identical bytes`).toBeGreaterThan(0.99);
    expect(worst, `${step.key}: largest byte difference`).toBeLessThanOrEqual(12);
  }
}

const SEED = 42;

describe('the playground page', () => {
  it('loads a preset and a sample, runs on the CPU and draws the engine\'s feature maps', async () => {
    await loadPreset('mobilenet_v1_first3');
    await page.selectOption('#input-source', 'sample:shapes');
    await page.selectOption('#weights-kind', 'seed');
    await page.fill('#weights-seed', String(SEED));
    await page.press('#weights-seed', 'Tab');
    const status = await run('cpu');
    expect(status.text).toContain('cpu');
    const model = getPreset('mobilenet_v1_first3')!;
    const steps = await expectedSteps(model, SEED, 'shapes');
    // The separable blocks show their depthwise and pointwise halves as separate grids.
    const roles = await page.$$eval('section.step', (sections) => sections.map((s) => s.querySelector('.badge')!.textContent));
    expect(roles).toEqual(steps.map((s) => s.role));
    expect(roles.filter((r) => r === 'depthwise')).toHaveLength(3);
    expect(roles.filter((r) => r === 'pointwise')).toHaveLength(3);
    await compareGrids(steps);
    await screenshot('playground-feature-maps.png');
  });

  it('runs the same model on the page\'s WebGPU and draws the same maps', async () => {
    const options = await page.$$eval('#backend option', (o) => o.map((x) => x.textContent ?? ''));
    expect(options.find((o) => o.startsWith('Page GPU'))).toMatch(/swiftshader/i);
    const status = await run('webview-gpu');
    expect(status.text.toLowerCase()).toContain('swiftshader');
    await compareGrids(await expectedSteps(getPreset('mobilenet_v1_first3')!, SEED, 'shapes'));
  });

  it('shows the cost model\'s numbers in the cost table', async () => {
    await page.click('#tab-costs');
    const model = getPreset('mobilenet_v1_first3')!;
    const cost = costModel(resolveModel(model), { convention: 'torchinfo', dtype: 'fp32' });
    for (const layer of cost.layers) {
      const cells = await page.$$eval(`#cost-table tr.row-layer[data-id="${layer.index}"] td`, (tds) => tds.map((td) => ({ text: td.textContent, value: (td as HTMLElement).dataset.value })));
      expect(cells[1]).toEqual({ text: formatCount(layer.params), value: String(layer.params) });
      expect(cells[2]).toEqual({ text: formatCount(layer.macs), value: String(layer.macs) });
      expect(cells[3]).toEqual({ text: formatCount(layer.flops), value: String(layer.flops) });
    }
    const total = await page.$$eval('#cost-table tr.row-total td', (tds) => tds.map((td) => (td as HTMLElement).dataset.value));
    expect(total.slice(1, 4)).toEqual([String(cost.total.params), String(cost.total.macs), String(cost.total.flops)]);
    // The convention selector changes the numbers as the cost model does.
    await page.selectOption('#convention', 'fvcore');
    const fvcore = costModel(resolveModel(model), { convention: 'fvcore' });
    const params = await page.$eval('#cost-table tr.row-total td[data-value]', (td) => (td as HTMLElement).dataset.value);
    expect(params).toBe(String(fvcore.total.params));
    await page.selectOption('#convention', 'torchinfo');
    await screenshot('playground-costs.png');
    await page.click('#tab-maps');
  });

  it('marks an invalid layer where it is and blocks the run with its message', async () => {
    const card = page.locator('.layer-card[data-index="4"]');
    await card.locator('[data-field="in_channels"]').fill('65');
    const model = getPreset('mobilenet_v1_first3')!;
    (model.layers[4] as { in_channels: number }).in_channels = 65;
    let message = '';
    try {
      resolveModel(model);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    await expect(card.getAttribute('class')).resolves.toContain('invalid');
    await expect(card.locator('.layer-error').textContent()).resolves.toBe(message);
    expect(await page.isDisabled('#run')).toBe(true);
    expect(await page.textContent('#run-reason')).toContain(message);
    await card.scrollIntoViewIfNeeded();
    await screenshot('playground-invalid-layer.png');
    await card.locator('[data-field="in_channels"]').fill('64');
    await expect(card.getAttribute('class')).resolves.not.toContain('invalid');
    expect(await page.isDisabled('#run')).toBe(false);
  });

  it('exports the spec JSON and the cost table', async () => {
    await page.click('#tab-export');
    await page.click('#export-json');
    const json = JSON.parse(await page.inputValue('#export-text')) as ModelSpec;
    expect(json.layers).toEqual(getPreset('mobilenet_v1_first3')!.layers);
    await page.click('#export-pytorch');
    const python = await page.inputValue('#export-text');
    expect(python).toBe(pytorchCode(resolveModel(getPreset('mobilenet_v1_first3')!)));
    expect(python).toContain('nn.Sequential');
    await page.click('#export-csv');
    const csv = await page.inputValue('#export-text');
    const cost = costModel(resolveModel(getPreset('mobilenet_v1_first3')!));
    expect(csv.split('\n').find((l) => l.startsWith('total,'))).toContain(`,${cost.total.params},${cost.total.macs},${cost.total.flops},`);
    await page.click('#tab-maps');
  });

  it('keeps its state across a reload', async () => {
    await page.selectOption('#colormap', 'magma');
    await page.reload();
    await page.waitForSelector('#run');
    expect(await page.inputValue('#colormap')).toBe('magma');
    expect(await page.$$eval('.layer-card', (cards) => cards.length)).toBe(getPreset('mobilenet_v1_first3')!.layers.length);
    await page.selectOption('#colormap', 'viridis');
  });

  it('measures Run to the last feature map drawn, per backend (MobileNetV1 stem + 3 blocks, 224x224)', async () => {
    const figures: Record<string, { drawnMs: number[]; engineMs: number[] }> = {};
    for (const backend of ['cpu', 'webview-gpu'] as const) {
      figures[backend] = { drawnMs: [], engineMs: [] };
      for (let i = 0; i < 7; i++) {
        const status = await run(backend);
        figures[backend]!.drawnMs.push(status.drawnMs);
        figures[backend]!.engineMs.push(status.engineMs);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const summary = Object.fromEntries(Object.entries(figures).map(([backend, f]) => [backend, { medianDrawnMs: median(f.drawnMs), medianEngineMs: median(f.engineMs), ...f }]));
    writeFileSync(join(RESULTS, 'playground-timing.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log('Run -> last feature map drawn (ms):', JSON.stringify(summary));
    for (const f of Object.values(summary)) expect(f.medianDrawnMs).toBeGreaterThan(0);
    expect((page as Page & { problems?: string[] }).problems).toEqual([]);
  });
});
