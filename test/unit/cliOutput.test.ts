/**
 * Every command prints through the two writers main() is handed, never to the process's own
 * streams: what each one prints can be read back here, and nothing reaches process.stdout or
 * process.stderr behind the writers' back.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main';
import { readNpy, writeNpy } from '../../src/io/npy';
import { listPresets } from '../../src/shared/presets';
import { captureOutput } from './cliCapture';
import { seeded, writeOnnx } from './onnxWriter';

let dir: string;
/** What reached the process's own streams while a test ran: must stay empty. */
let leaked: string[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-output-'));
  leaked = [];
  const leak = (chunk: string | Uint8Array) => {
    leaked.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(leak);
  vi.spyOn(process.stderr, 'write').mockImplementation(leak);
});
afterEach(() => {
  vi.restoreAllMocks();
  expect(leaked).toEqual([]);
});

async function run(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const { io, out, err } = captureOutput();
  const code = await main(args, io.out, io.err);
  return { code, out, err };
}

/** A conv and a ReLU as an .onnx file, input [1, 3, 8, 8]. */
function onnxFile(): string {
  const path = join(dir, 'small.onnx');
  writeFileSync(
    path,
    writeOnnx({
      input: { name: 'x', shape: [1, 3, 8, 8] },
      outputs: ['y'],
      initializers: [{ name: 'w', dims: [4, 3, 3, 3], data: seeded(108, 1) }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'], name: 'relu' },
      ],
    }),
  );
  return path;
}

function inputFile(shape = [1, 3, 8, 8]): string {
  const path = join(dir, 'x.npy');
  writeFileSync(path, writeNpy({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)) }));
  return path;
}

describe('the CLI prints through the writers it is handed', () => {
  it('presets, as text and as JSON', async () => {
    const text = await run(['presets']);
    expect([text.code, text.err]).toEqual([0, []]);
    expect(text.out).toHaveLength(1);
    expect(text.out[0]!.split('\n')).toHaveLength(listPresets().length);
    const json = await run(['presets', '--json']);
    expect(JSON.parse(json.out.join('\n'))).toEqual(JSON.parse(JSON.stringify(listPresets())));
  });

  it('cost --model PRESET and --model X.onnx', async () => {
    const preset = await run(['cost', '--model', 'mobilenet_v1_block', '--json']);
    expect([preset.code, preset.err]).toEqual([0, []]);
    expect((JSON.parse(preset.out.join('\n')) as { name: string }).name).toBe('MobileNetV1 separable block');
    const onnx = await run(['cost', '--model', onnxFile()]);
    expect([onnx.code, onnx.err]).toEqual([0, []]);
    // 4 x 3 x 3 x 3 weights; each of the 4 x 8 x 8 outputs takes 27 multiply-adds.
    expect(onnx.out.join('\n')).toMatch(/^c +Conv2d +1x4x8x8 +108 +6,912$/m);
  });

  it('cost FILE.py: the table, then the settings line', async () => {
    const file = join(dir, 'net.py');
    writeFileSync(
      file,
      'import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a = nn.Conv2d(3, 8, 3, padding=1)\n\n    def forward(self, x):\n        return self.a(x)\n',
    );
    const r = await run(['cost', file, '--input-size', '32,32']);
    expect([r.code, r.err]).toEqual([0, []]);
    const text = r.out.join('\n');
    // 8 x 3 x 3 x 3 weights and 8 biases; 8 x 32 x 32 outputs of 27 multiply-adds and a bias each (as torchinfo counts).
    expect(text).toMatch(/^7:18 +nn\.Conv2d +standard +1 +224 +229\.38K +1x8x32x32$/m);
    expect(text.split('\n').slice(-5)).toEqual([
      "(torchinfo, fp32; a model's input at 32x32 where the code does not give one)",
      "models built with their default arguments (or by the file's script steps):",
      '  Net',
      'totals (as the CodeLens gives them: every layer instance the model builds, parameters once):',
      '  Net: 224 params · 229.38K MACs · 1 conv instance',
    ]);
    // --json --models: the sites and each model's totals.
    const withModels = JSON.parse((await run(['cost', file, '--json', '--models', '--input-size', '32,32'])).out.join('\n')) as {
      sites: unknown[];
      models: { name: string; params: number; macs: number; unknown_instances: number }[];
    };
    expect(withModels.sites).toHaveLength(1);
    expect(withModels.models).toMatchObject([{ name: 'Net', params: 224, macs: 229_376, unknown_instances: 0 }]);
    const json = await run(['cost', file, '--json', '--input-size', '32,32']);
    expect((JSON.parse(json.out.join('\n')) as { line: number; params: number; macs: number }[]).map((site) => [site.line, site.params, site.macs])).toEqual([
      [7, 224, 229_376],
    ]);
  });

  it('cost FILE.py --input-shape: the whole input, for a model whose input is not N,C,H,W', async () => {
    const file = join(dir, 'audio.py');
    writeFileSync(
      file,
      'import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a = nn.Conv1d(1, 16, 4, stride=2, bias=False)\n\n    def forward(self, x):\n        return self.a(x.unsqueeze(1))\n',
    );
    // Measured (PyTorch 1.13, input 1x400): 64 params, 16 x 199 outputs of 4 multiply-adds each.
    const r = await run(['cost', file, '--json', '--input-shape', '1,400']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out.join('\n')) as { macs: number; input_shape: number[] }[]).map((site) => [site.macs, site.input_shape])).toEqual([
      [12_736, [1, 1, 400]],
    ]);
    const bad = await run(['cost', file, '--input-shape', '1']);
    expect(bad.code).toBe(1);
    expect(bad.err.join('\n')).toMatch(/--input-shape must be 2 or 3 or 4 or 5 positive integers/);
  });

  it('cost FILE.py: an unreadable file and a failed measurement are errors on err, with their exit codes', async () => {
    const missing = await run(['cost', join(dir, 'none.py')]);
    expect(missing).toEqual({ code: 1, out: [], err: [`sepconv: cannot read ${join(dir, 'none.py')}: no such file`] });
    const file = join(dir, 'net.py');
    writeFileSync(file, 'import torch.nn as nn\nnet = nn.Conv2d(3, 8, 3)\n');
    const noPython = await run(['cost', file, '--measure', '--python', join(dir, 'no-such-python')]);
    expect(noPython.code).toBe(1);
    expect(noPython.out).toEqual([]);
    expect(noPython.err).toHaveLength(1);
    expect(noPython.err[0]).toMatch(new RegExp(`^sepconv: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  });

  it('forward: the summary on out, the notes on err', async () => {
    const output = join(dir, 'y.npy');
    const r = await run(['forward', '--model', 'mobilenet_v1_block', '--input', inputFile([1, 32, 6, 6]), '--output', output]);
    expect(r.code).toBe(0);
    expect(r.err).toEqual(['sepconv: no --weights or --init given: using --init seed:0']);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]!.split('\n')).toEqual([
      expect.stringMatching(/^MobileNetV1 separable block: \[1, 32, 6, 6\] -> \[1, 64, 6, 6\] on cpu/),
      `wrote ${output}`,
    ]);
    expect(readNpy(readFileSync(output)).shape).toEqual([1, 64, 6, 6]);
  });

  it('forward --model X.onnx: its own weights, and --init refused', async () => {
    const model = onnxFile();
    const output = join(dir, 'y.npy');
    const r = await run(['forward', '--model', model, '--input', inputFile(), '--output', output]);
    expect([r.code, r.err]).toEqual([0, []]);
    expect(r.out[0]).toMatch(/\[1, 3, 8, 8\] -> \[1, 4, 8, 8\] on cpu/);
    const output2 = readNpy(readFileSync(output));
    expect(output2.data.every((v) => v >= 0)).toBe(true);
    const init = await run(['forward', '--model', model, '--input', inputFile(), '--output', output, '--init', 'seed:1']);
    expect(init.code).toBe(1);
    expect(init.err[0]).toMatch(/an \.onnx model brings its own weights; drop --weights and --init/);
  });

  it('errors: one line on err (with the usage for a wrong command line), nothing on out', async () => {
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toEqual([]);
    expect(unknown.err[0]!.split('\n')[0]).toBe('sepconv: unknown command "frobnicate"');
    expect(unknown.err[0]).toContain('usage:');
    const missing = await run(['forward', '--model', 'mobilenet_v1_block', '--input', join(dir, 'none.npy'), '--output', join(dir, 'y.npy')]);
    expect(missing).toEqual({ code: 1, out: [], err: [`sepconv: --input ${join(dir, 'none.npy')}: no such file`] });
  });
});
