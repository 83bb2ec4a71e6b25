/** `sepconv forward`: the CLI writes what forward() computes, from files or presets, and refuses bad arguments clearly. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runForwardCommand } from '../../src/cli/forward';
import { forward } from '../../src/engine/forward';
import { filterWeights, initWeights } from '../../src/engine/weights';
import { readNpy, writeNpy } from '../../src/io/npy';
import { writeSafetensors } from '../../src/io/safetensors';
import { getPreset } from '../../src/shared/presets';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';
import { FIXTURE_DIR, loadFixture, readManifest } from './fixtureLoader';
import { allcloseViolation } from './engineAllclose';
import { captureOutput, type CapturedOutput } from './cliCapture';

let dir: string;
let printed: CapturedOutput;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-cli-'));
  printed = captureOutput();
});

const model: ModelSpec = { name: 'tiny', layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 4, stride: 2 }] };
const input = { shape: [1, 3, 10, 10], data: new Float32Array(300).map((_, i) => Math.sin(i / 3)) };

function files(): { modelPath: string; inputPath: string; outputPath: string } {
  const modelPath = join(dir, 'model.json');
  const inputPath = join(dir, 'x.npy');
  writeFileSync(modelPath, JSON.stringify(model));
  writeFileSync(inputPath, writeNpy(input));
  return { modelPath, inputPath, outputPath: join(dir, 'y.npy') };
}

describe('sepconv forward', () => {
  it('--weights: a PyTorch fixture through the CLI matches PyTorch', async () => {
    const entry = readManifest().find((e) => e.name === 'mobilenet_v2_stack')!;
    const fixture = loadFixture(entry);
    const outputPath = join(dir, 'out.npy');
    const code = await runForwardCommand(['--model', join(FIXTURE_DIR, `${entry.name}.json`), '--input', join(FIXTURE_DIR, `${entry.name}.input.npy`), '--weights', join(FIXTURE_DIR, `${entry.name}.weights.safetensors`), '--output', outputPath], printed.io);
    expect(code).toBe(0);
    expect(allcloseViolation(readNpy(readFileSync(outputPath)), fixture.output)).toBeUndefined();
  });

  it('--init seed and filters give what initWeights/filterWeights give; --intermediates writes every step', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const resolved = resolveModel(model, { inputShape: input.shape });
    expect(await runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'seed:42', '--intermediates', join(dir, 'steps')], printed.io)).toBe(0);
    const expected = await forward(model, initWeights(resolved, { seed: 42 }), input, { intermediates: true });
    expect(readNpy(readFileSync(outputPath)).data).toEqual(expected.output.data);
    const index = JSON.parse(readFileSync(join(dir, 'steps', 'index.json'), 'utf8')) as { steps: Array<{ file: string; label: string }> };
    expect(index.steps.map((s) => s.label)).toEqual(expected.intermediates!.map((s) => s.label));
    expect(readNpy(readFileSync(join(dir, 'steps', index.steps[0]!.file))).data).toEqual(expected.intermediates![0]!.tensor.data);
    // The summary goes through the writers it was handed: one text of three lines, and nothing to err.
    expect(printed.out).toHaveLength(1);
    const summary = printed.out[0]!.split('\n');
    expect(summary[0]).toMatch(/^tiny: \[1, 3, 10, 10\] -> \[1, 4, 5, 5\] on cpu \(.*\) in \d+\.\d ms$/);
    expect(summary.slice(1)).toEqual([`wrote ${outputPath}`, `wrote ${index.steps.length} step outputs and index.json to ${join(dir, 'steps')}`]);
    expect(printed.err).toEqual([]);

    expect(await runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'filters:sobel', '--unfused'], printed.io)).toBe(0);
    const filtered = await forward(model, filterWeights(resolved, 'sobel_x'), input);
    expect(allcloseViolation(readNpy(readFileSync(outputPath)), filtered.output, 1e-6, 1e-6)).toBeUndefined();
  });

  it('--model takes a preset name', async () => {
    const preset = getPreset('mobilenet_v1_block')!;
    const x = { shape: [1, 32, 12, 12], data: new Float32Array(32 * 144).fill(0.25) };
    const inputPath = join(dir, 'x.npy');
    writeFileSync(inputPath, writeNpy(x));
    expect(await runForwardCommand(['--model', 'mobilenet_v1_block', '--input', inputPath, '--output', join(dir, 'y.npy'), '--init', 'seed:1'], printed.io)).toBe(0);
    expect(printed.out[0]).toMatch(/^MobileNetV1 separable block: \[1, 32, 12, 12\] -> \[1, 64, 12, 12\] on cpu/);
    const expected = await forward(preset, initWeights(resolveModel(preset, { inputShape: x.shape }), { seed: 1 }), x);
    expect(readNpy(readFileSync(join(dir, 'y.npy'))).data).toEqual(expected.output.data);
  });

  it('without --weights or --init, says through err that it uses --init seed:0', async () => {
    const { modelPath, inputPath, outputPath } = files();
    expect(await runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath], printed.io)).toBe(0);
    expect(printed.err).toEqual(['sepconv: no --weights or --init given: using --init seed:0']);
    const expected = await forward(model, initWeights(resolveModel(model, { inputShape: input.shape }), { seed: 0 }), input);
    expect(readNpy(readFileSync(outputPath)).data).toEqual(expected.output.data);
  });

  it('refuses bad arguments and bad files with a message', async () => {
    const { modelPath, inputPath, outputPath } = files();
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath], printed.io)).rejects.toThrow(/needs --output/);
    await expect(runForwardCommand(['--model', 'no_such_preset', '--input', inputPath, '--output', outputPath], printed.io)).rejects.toThrow(/no such file, and no preset/);
    await expect(runForwardCommand(['--model', modelPath, '--input', join(dir, 'missing.npy'), '--output', outputPath], printed.io)).rejects.toThrow(/--input .*missing.npy: no such file/);
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--backend', 'tpu'], printed.io)).rejects.toThrow(/--backend must be one of cpu, webgpu, got "tpu"/);
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--init', 'seed:1', '--weights', 'w.safetensors'], printed.io)).rejects.toThrow(/not both/);
    // Weights of another model: the error names the layer and the tensor.
    const wrong = initWeights(resolveModel({ layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 5 }] }, { inputShape: input.shape }), { seed: 0 });
    writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(wrong));
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--weights', join(dir, 'w.safetensors')], printed.io)).rejects.toThrow(/layers\[0\]\.3: 0\.3\.weight: has shape \[5, 3, 1, 1\], expected \[4, 3, 1, 1\]/);
    expect(existsSync(outputPath)).toBe(false);
  });

  it('names the option and the file when a file is bad, a directory, or not writable', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const run = (...args: string[]) => runForwardCommand(['--init', 'seed:1', ...args], printed.io);
    writeFileSync(join(dir, 'half.npy'), readFileSync(inputPath).subarray(0, 200));
    await expect(run('--model', modelPath, '--input', join(dir, 'half.npy'), '--output', outputPath)).rejects.toThrow(/^--input .*half\.npy: truncated \.npy file/);
    await expect(run('--model', modelPath, '--input', dir, '--output', outputPath)).rejects.toThrow(/^--input .*: is a directory, not a file$/);
    await expect(run('--model', dir, '--input', inputPath, '--output', outputPath)).rejects.toThrow(/^--model .*: is a directory, not a file$/);
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--weights', inputPath], printed.io)).rejects.toThrow(/^--weights .*x\.npy: not a \.safetensors file/);
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--weights', dir], printed.io)).rejects.toThrow(/^--weights .*: is a directory, not a file$/);
    await expect(run('--model', modelPath, '--input', inputPath, '--output', dir)).rejects.toThrow(/^--output .*: is a directory, not a file$/);
    await expect(run('--model', modelPath, '--input', inputPath, '--output', join(dir, 'no', 'such', 'y.npy'))).rejects.toThrow(/^--output .*y\.npy: cannot write \(ENOENT/);
    await expect(run('--model', modelPath, '--input', inputPath, '--output', outputPath, '--intermediates', inputPath)).rejects.toThrow(/^--intermediates .*x\.npy: is a file, not a directory$/);
    expect(existsSync(outputPath)).toBe(false);
  });

  it('names a weight stored with an integer dtype instead of calling it missing', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const weights = initWeights(resolveModel(model, { inputShape: input.shape }), { seed: 0 });
    const bytes = writeSafetensors(weights);
    // Relabel 0.0.weight (3x1x3x3 F32, 108 bytes) as I32: same size, so the file stays well formed.
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)).replace('{"dtype":"F32","shape":[3,1,3,3]', '{"dtype":"I32","shape":[3,1,3,3]');
    expect(header).toContain('"I32"');
    writeFileSync(join(dir, 'w.safetensors'), new Uint8Array([...bytes.subarray(0, 8), ...new TextEncoder().encode(header), ...bytes.subarray(8 + headerLength)]));
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--weights', join(dir, 'w.safetensors')], printed.io)).rejects.toThrow(/^--weights .*w\.safetensors: tensor "0\.0\.weight": is stored as I32; weights must be F32, F16, BF16, F64$/);
  });

  it('refuses to write an output that overflowed to Inf or NaN, naming the first step that did', async () => {
    const { modelPath, inputPath, outputPath } = files();
    const weights = initWeights(resolveModel(model, { inputShape: input.shape }), { seed: 0 });
    weights['0.0.weight'] = { shape: weights['0.0.weight']!.shape, data: new Float32Array(weights['0.0.weight']!.data.length).fill(3e38) };
    writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(weights));
    await expect(runForwardCommand(['--model', modelPath, '--input', inputPath, '--output', outputPath, '--weights', join(dir, 'w.safetensors')], printed.io)).rejects.toThrow(/^the output holds \d+ non-finite values? \(first: (Infinity|-Infinity|NaN) at element \d+\); the first step with one is .*layers\[0\]/);
    expect(existsSync(outputPath)).toBe(false);
  });
});

describe('sepconv forward --threads, in the built CLI (the bundle embeds the SIMD kernels)', () => {
  const root = join(__dirname, '../..');
  beforeAll(() => {
    execFileSync(process.execPath, ['esbuild.mjs', '--only=cli', '--no-typecheck'], { cwd: root, stdio: 'pipe' });
  }, 180_000);

  it('splits the steps over N threads, with the same output bit for bit; refuses 0 and non-integers', () => {
    const work = mkdtempSync(join(tmpdir(), 'sepconv-cli-threads-'));
    const x = { shape: [1, 3, 64, 64], data: new Float32Array(3 * 64 * 64).map((_, i) => Math.cos(i / 7)) };
    const inputPath = join(work, 'x.npy');
    writeFileSync(inputPath, writeNpy(x));
    const cli = (args: string[]) => spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'forward', '--model', 'mobilenet_v1_first3', '--input', inputPath, '--init', 'seed:3', ...args], { encoding: 'utf8' });
    const outputs: Buffer[] = [];
    for (const threads of ['1', '2', '3']) {
      const run = cli(['--output', join(work, `y${threads}.npy`), '--threads', threads]);
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain(threads === '1' ? 'on cpu (wasm-simd) in' : `on cpu (wasm-simd, ${threads} threads) in`);
      outputs.push(readFileSync(join(work, `y${threads}.npy`)));
    }
    expect(outputs[1]!.equals(outputs[0]!)).toBe(true);
    expect(outputs[2]!.equals(outputs[0]!)).toBe(true);
    for (const bad of ['0', '1.5', 'two', '65']) {
      const run = cli(['--output', join(work, 'y.npy'), '--threads', bad]);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/--threads must be an integer from 1 to 64/);
    }
  }, 60_000);
});
