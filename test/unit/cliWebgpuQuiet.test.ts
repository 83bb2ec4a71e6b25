/**
 * `sepconv forward --backend webgpu` on a machine without a GPU: one clear line, and Dawn's native
 * log lines (written to fd 2, out of reach of any JavaScript spy) only with --verbose. The CLI runs
 * as a separate process, built from src/ by esbuild, with VK_ICD_FILENAMES naming no driver.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy';
import { probeAdapterQuietly } from '../../src/cli/adapterProbe';

const ROOT = resolve(__dirname, '../..');
/** Inside the repository, so that the bundle finds node_modules/webgpu as dist/cli.js does. */
const CLI = join(ROOT, 'node_modules/.cache/sepconv-test/cli.js');
/** A Vulkan driver list that names no driver: Dawn's Linux backend finds no adapter. */
const NO_DRIVER = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/sepconv-no-driver.json' };

let dir: string;
beforeAll(async () => {
  mkdirSync(join(ROOT, 'node_modules/.cache/sepconv-test'), { recursive: true });
  await esbuild.build({
    entryPoints: [join(ROOT, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: CLI,
    external: ['webgpu'],
    logLevel: 'error',
    define: { 'import.meta.url': '__cliUrl' },
    banner: { js: "var __cliUrl = require('url').pathToFileURL(__filename).href;" },
  });
  dir = mkdtempSync(join(tmpdir(), 'sepconv-gpu-'));
  writeFileSync(join(dir, 'm.json'), JSON.stringify({ input_shape: [1, 3, 8, 8], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 4, kernel_size: 3 }] }));
  writeFileSync(join(dir, 'x.npy'), writeNpy({ shape: [1, 3, 8, 8], data: new Float32Array(192) }));
}, 120_000);

function forward(extra: string[]) {
  const args = [CLI, 'forward', '--model', 'm.json', '--input', 'x.npy', '--output', 'y.npy', '--init', 'seed:1', '--backend', 'webgpu', ...extra];
  return spawnSync(process.execPath, args, { cwd: dir, env: NO_DRIVER, encoding: 'utf8', timeout: 120_000 });
}

describe.runIf(process.platform === 'linux')('--backend webgpu without a GPU (Linux: Dawn uses Vulkan)', () => {
  it('the probe finds no adapter and keeps what Dawn printed', () => {
    const saved = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = NO_DRIVER.VK_ICD_FILENAMES;
    try {
      const probe = probeAdapterQuietly();
      expect(probe.found).toBe(false);
      expect(probe.reason).toMatch(/no WebGPU adapter/);
      expect(probe.dawnLog).not.toBe('');
    } finally {
      if (saved === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = saved;
    }
  });

  it('prints one clear error and nothing from Dawn; --verbose adds Dawn\'s lines', () => {
    const quiet = forward([]);
    expect(quiet.status).toBe(1);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr.trim().split('\n')).toEqual([
      'sepconv: --backend webgpu: no usable WebGPU device here (host WebGPU unusable: no WebGPU adapter (no GPU driver, and no SwiftShader: set VK_ICD_FILENAMES)); --verbose shows what Dawn reported',
    ]);
    const verbose = forward(['--verbose']);
    expect(verbose.status).toBe(1);
    const lines = verbose.stderr.trim().split('\n');
    expect(lines.at(-1)).toBe('sepconv: --backend webgpu: no usable WebGPU device here (host WebGPU unusable: no WebGPU adapter (no GPU driver, and no SwiftShader: set VK_ICD_FILENAMES))');
    expect(lines.length).toBeGreaterThan(1);
  });
});
