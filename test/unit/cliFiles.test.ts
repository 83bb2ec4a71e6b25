/**
 * The CLI and its files: a failed write loses nothing, every destination is checked before the
 * run, an intermediates folder holds only the latest run, non-regular inputs are refused, no
 * path hangs, and a closed pipe ends the CLI quietly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { runForwardCommand } from '../../src/cli/forward';
import { initWeights } from '../../src/engine/weights';
import { localFileSystem, readRegularFile, writeLocalFileAtomic } from '../../src/io/localFiles';
import { writeNpy } from '../../src/io/npy';
import { writeSafetensors } from '../../src/io/safetensors';
import { writeFileAtomic, type AtomicWriteFileSystem } from '../../src/shared/atomicWrite';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { captureOutput } from './cliCapture';

let dir: string;
let cliPath: string;

beforeAll(async () => {
  const buildDir = mkdtempSync(join(tmpdir(), 'sepconv-cli-bundle-'));
  cliPath = join(buildDir, 'cli.js');
  // As esbuild.mjs bundles the CLI (without the embedded kernels: the JS ones serve here).
  await esbuild.build({
    entryPoints: ['src/cli/main.ts'], bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['webgpu'], outfile: cliPath, logLevel: 'error',
    define: { 'import.meta.url': '__sepconvImportMetaUrl' },
    banner: { js: "var __sepconvImportMetaUrl = require('url').pathToFileURL(__filename).href;" },
  });
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-files-'));
});

const model: ModelSpec = { name: 'two', layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, padding: 1 }, { type: 'ReLU' }, { type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 1 }] };
const input = { shape: [1, 3, 16, 16], data: new Float32Array(768).map((_, i) => Math.sin(i / 5)) };

function files(spec: ModelSpec = model): { modelPath: string; inputPath: string; outputPath: string } {
  const modelPath = join(dir, 'model.json');
  const inputPath = join(dir, 'x.npy');
  writeFileSync(modelPath, JSON.stringify(spec));
  writeFileSync(inputPath, writeNpy(input));
  return { modelPath, inputPath, outputPath: join(dir, 'y.npy') };
}

/** Runs the bundled CLI in a shell (for ulimit and pipes). */
function shell(command: string) {
  return spawnSync('bash', ['-c', command], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CLI: cliPath } });
}

describe('atomic writes', () => {
  it('a write that fails midway leaves the old file whole and no temporary file behind', async () => {
    const target = join(dir, 'out.bin');
    writeFileSync(target, 'the old content');
    const failing: AtomicWriteFileSystem<string> = {
      ...localFileSystem,
      async writeNew(location, bytes, targetPath) {
        await localFileSystem.writeNew(location, bytes.subarray(0, 3), targetPath);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    await expect(writeFileAtomic(target, new Uint8Array(1000).fill(7), failing)).rejects.toThrow(/ENOSPC/);
    expect(readFileSync(target, 'utf8')).toBe('the old content');
    expect(readdirSync(dir)).toEqual(['out.bin']);
    await writeLocalFileAtomic(target, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(target)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('sepconv forward under a 1 KiB file size limit: --output and --intermediates keep their old files', () => {
    const { modelPath, inputPath, outputPath } = files();
    const steps = join(dir, 'steps');
    expect(shell(`node "$CLI" forward --model ${modelPath} --input ${inputPath} --output ${outputPath} --init seed:1 --intermediates ${steps}`).status).toBe(0);
    const before = { output: readFileSync(outputPath), index: readFileSync(join(steps, 'index.json')), first: readFileSync(join(steps, readdirSync(steps).find((f) => f.endsWith('.npy'))!)) };
    // Outputs of 8 KiB: a write in place would leave 1 KiB of each.
    const run = shell(`ulimit -f 1; node "$CLI" forward --model ${modelPath} --input ${inputPath} --output ${outputPath} --init seed:2`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--output .*y\.npy: cannot write \(EFBIG/);
    expect(readFileSync(outputPath).equals(before.output)).toBe(true);
    // The output is small enough; the step files are not.
    writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ layers: [...model.layers, { type: 'AdaptiveAvgPool2d', output_size: 1 }] }));
    const steps2 = shell(`ulimit -f 1; node "$CLI" forward --model ${join(dir, 'tiny.json')} --input ${inputPath} --output ${join(dir, 'small.npy')} --init seed:2 --intermediates ${steps}`);
    expect(steps2.status).toBe(1);
    expect(steps2.stderr).toMatch(/--intermediates .*: cannot write \(EFBIG/);
    expect(readFileSync(join(steps, 'index.json')).equals(before.index)).toBe(true);
    expect(readFileSync(join(steps, readdirSync(steps).find((f) => f.endsWith('.npy'))!)).equals(before.first)).toBe(true);
    expect(readdirSync(steps).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('destinations are checked before the run', () => {
  /** Weights that overflow: the run itself fails, so an error about a destination proves it was checked first. */
  function overflowingWeights(): string {
    const weights = initWeights(resolveModel(model, { inputShape: input.shape }), { seed: 0 });
    weights['0.weight'] = { shape: weights['0.weight']!.shape, data: new Float32Array(weights['0.weight']!.data.length).fill(3e38) };
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, writeSafetensors(weights));
    return path;
  }

  it('--output in a missing folder, or under a file', async () => {
    const { modelPath, inputPath } = files();
    const weights = overflowingWeights();
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--weights', weights, '--output', join(dir, 'missing', 'y.npy')], captureOutput().io)).rejects.toThrow(/^--output .*y\.npy: cannot write \(ENOENT: no folder /);
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--weights', weights, '--output', join(inputPath, 'y.npy')], captureOutput().io)).rejects.toThrow(/^--output .*y\.npy: a parent of .* is a file, not a directory/);
  });

  it('--intermediates under a file is refused before --output is written', async () => {
    const { modelPath, inputPath, outputPath } = files();
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--init', 'seed:1', '--output', outputPath, '--intermediates', join(inputPath, 'steps')], captureOutput().io)).rejects.toThrow(/^--intermediates .*steps: .*x\.npy is a file, not a directory$/);
    expect(existsSync(outputPath)).toBe(false);
  });

  it('--intermediates under /proc fails at once instead of hanging', async () => {
    const { modelPath, inputPath, outputPath } = files();
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--init', 'seed:1', '--output', outputPath, '--intermediates', '/proc/sepconv-no-such/steps'], captureOutput().io)).rejects.toThrow(/^--intermediates \/proc\/sepconv-no-such\/steps: (cannot make the directory \/proc\/sepconv-no-such|cannot write)/);
    expect(existsSync(outputPath)).toBe(false);
  }, 10_000);
});

describe('an intermediates folder', () => {
  it('holds only the latest run: the step files an earlier index.json listed are removed', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const steps = join(dir, 'steps');
    expect(await runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'seed:1', '--intermediates', steps, '--unfused'], captureOutput().io)).toBe(0);
    const first = readdirSync(steps).sort();
    expect(first.filter((f) => f.endsWith('.npy'))).toHaveLength(3);
    writeFileSync(join(steps, 'notes.txt'), 'mine');
    files({ layers: [model.layers[0]!] });
    expect(await runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'seed:1', '--intermediates', steps], captureOutput().io)).toBe(0);
    const index = JSON.parse(readFileSync(join(steps, 'index.json'), 'utf8')) as { format: string; steps: Array<{ file: string }> };
    expect(index.format).toBe('sepconv-intermediates');
    expect(readdirSync(steps).sort()).toEqual([...index.steps.map((s) => s.file), 'index.json', 'notes.txt'].sort());
    expect(index.steps).toHaveLength(1);
  });

  it('is refused when it holds files and no index.json of an earlier run; its files stay', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const steps = join(dir, 'photos');
    mkdirSync(steps);
    writeFileSync(join(steps, '000_0.npy'), 'not ours');
    writeFileSync(join(steps, 'index.json'), JSON.stringify({ steps: [{ file: '../x.npy' }] }));
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'seed:1', '--intermediates', steps], captureOutput().io)).rejects.toThrow(/^--intermediates .*photos: the folder holds 2 file\(s\) and no index\.json of an earlier `sepconv forward` run/);
    expect(readFileSync(join(steps, '000_0.npy'), 'utf8')).toBe('not ours');
    expect(existsSync(outputPath)).toBe(false);
  });
});

describe('non-regular files are refused', () => {
  it('/dev/zero and a FIFO as --input, --model, --weights; /dev/zero for cost', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const forwardWith = (...args: string[]) => runForwardCommand(['--output', outputPath, ...args], captureOutput().io);
    await expect(forwardWith('--model', modelPath, '--input', '/dev/zero', '--init', 'seed:1')).rejects.toThrow(/^--input \/dev\/zero: not a regular file \(a character device\): refused$/);
    await expect(forwardWith('--model', modelPath, '--input', fifo, '--init', 'seed:1')).rejects.toThrow(/^--input .*fifo: not a regular file \(a FIFO\): refused$/);
    await expect(forwardWith('--model', '/dev/zero', '--input', inputPath)).rejects.toThrow(/^--model \/dev\/zero: not a regular file/);
    await expect(forwardWith('--model', fifo, '--input', inputPath)).rejects.toThrow(/^--model .*fifo: not a regular file \(a FIFO\)/);
    await expect(forwardWith('--model', modelPath, '--input', inputPath, '--weights', '/dev/zero')).rejects.toThrow(/^--weights \/dev\/zero: not a regular file/);
    const err: string[] = [];
    expect(await main(['cost', '--model', '/dev/zero'], () => undefined, (s) => err.push(s))).toBe(1);
    expect(err.join('\n')).toMatch(/--model \/dev\/zero: .*not a regular file \(a character device\)/);
    const python = shell(`node "$CLI" cost /dev/zero`);
    expect(python.status).toBe(1);
    expect(python.stderr).toMatch(/cannot read \/dev\/zero: not a regular file \(a character device\)/);
  }, 20_000);

  it('a file over the cap is refused by its size, before it is read', () => {
    const path = join(dir, 'big.json');
    writeFileSync(path, ' '.repeat(2000));
    expect(() => readRegularFile(path, 1000)).toThrow(/^is 2000 bytes, more than the 1000 bytes read from such a file$/);
    expect(readRegularFile(path, 2000).length).toBe(2000);
  });
});

describe('a closed pipe', () => {
  it('`sepconv cost FILE.py --json | head -1` ends quietly with status 0', () => {
    const source = join(dir, 'many.py');
    writeFileSync(source, `import torch.nn as nn\nmodel = nn.Sequential(${Array.from({ length: 600 }, () => 'nn.Conv2d(16, 16, 3)').join(', ')})\n`);
    const run = shell(`node "$CLI" cost ${source} --json | head -1; echo "status=\${PIPESTATUS[0]}" >&2`);
    expect(run.stdout).toBe('[\n');
    expect(run.stderr).toBe('status=0\n');
  }, 30_000);
});
