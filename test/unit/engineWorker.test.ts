/** The engine in a worker thread: runs, reports progress, cancels, survives a crash. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, EngineInputError } from '../../src/engine/errors';
import { forward } from '../../src/engine/forward';
import { initWeights } from '../../src/engine/weights';
import { EngineWorkerClient, EngineWorkerCrashedError } from '../../src/engine/workerClient';
import { resolveModel, type ModelSpec } from '../../src/shared/spec';

let dir: string;
let workerPath: string;
let crashingWorkerPath: string;
const clients: EngineWorkerClient[] = [];
const client = (path = workerPath) => {
  const c = new EngineWorkerClient({ workerPath: path });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sepconv-worker-'));
  workerPath = join(dir, 'engineWorker.js');
  // The same bundle options as esbuild.mjs's `worker` bundle.
  await esbuild.build({
    entryPoints: ['src/engine/engineWorker.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['webgpu'],
    outfile: workerPath,
    logLevel: 'error',
  });
  // The real worker, made to die (process.exit) while handling a model named "crash".
  crashingWorkerPath = join(dir, 'crashingWorker.js');
  writeFileSync(
    crashingWorkerPath,
    `require('node:worker_threads').parentPort.on('message', (m) => { if (m.request.model.name === 'crash') process.exit(7); });\nrequire(${JSON.stringify(workerPath)});\n`,
  );
});

afterAll(() => {
  for (const c of clients) c.dispose();
});

const small: ModelSpec = {
  layers: [
    { type: 'DepthwiseSeparable', in_channels: 3, out_channels: 8 },
    { type: 'InvertedResidual', in_channels: 8, out_channels: 8 },
  ],
};
const smallInput = () => ({ shape: [2, 3, 16, 16], data: new Float32Array(2 * 3 * 256).map((_, i) => Math.cos(i / 7)) });
/** Big enough to take a while: ~1.2 GMAC of standard convs. */
const slow: ModelSpec = {
  layers: Array.from({ length: 4 }, () => ({ type: 'Conv2d' as const, in_channels: 64, out_channels: 64, kernel_size: 3, padding: 1 })),
};

describe('engine worker', () => {
  it('runs a forward pass with the same numbers as the main thread, with progress and transferred results', async () => {
    const resolved = resolveModel(small, { inputShape: [2, 3, 16, 16] });
    const weights = initWeights(resolved, { seed: 5 });
    const progress: number[] = [];
    const inWorker = await client().run(
      { model: small, input: smallInput(), weights, options: { intermediates: true } },
      { onProgress: (done) => progress.push(done) },
    );
    const local = await forward(small, weights, smallInput(), { intermediates: true });
    expect(inWorker.output.shape).toEqual(local.output.shape);
    expect(inWorker.output.data).toEqual(local.output.data);
    expect(inWorker.output.data).toBeInstanceOf(Float32Array);
    expect(inWorker.intermediates!.map((s) => s.label)).toEqual(local.intermediates!.map((s) => s.label));
    expect(progress).toEqual(local.timings.map((_, i) => i + 1));
  });

  it('makes weights in the worker from a seed, and can transfer the input', async () => {
    const resolved = resolveModel(small, { inputShape: [2, 3, 16, 16] });
    const input = smallInput();
    const expected = await forward(small, initWeights(resolved, { seed: 9 }), smallInput());
    const result = await client().run({ model: small, input, weights: { kind: 'seed', seed: 9 } }, { transfer: true });
    expect(result.output.data).toEqual(expected.output.data);
    expect(input.data.length).toBe(0); // detached: it moved to the worker
  });

  it('keeps the model prepared for weights it made or the host named, never for other weights, and makes the previews', async () => {
    const resolved = resolveModel(small, { inputShape: [2, 3, 16, 16] });
    const c = client();
    const run = (weights: Parameters<typeof c.run>[0]['weights'], weightsKey?: string) =>
      c.run({ model: small, input: smallInput(), weights, options: { intermediates: true }, previewChannels: 4, ...(weightsKey ? { weightsKey } : {}) });
    const expected = async (seed: number) => (await forward(small, initWeights(resolved, { seed }), smallInput(), { intermediates: true })).output.data;
    // Made from a seed: the same seed twice (the second run on the kept model), then another seed.
    const first = await run({ kind: 'seed', seed: 2 });
    expect(first.output.data).toEqual(await expected(2));
    expect((await run({ kind: 'seed', seed: 2 })).output.data).toEqual(await expected(2));
    expect((await run({ kind: 'seed', seed: 3 })).output.data).toEqual(await expected(3));
    // Tensors: kept under the host's key; other tensors under another key, or with none, are not mistaken for them.
    const a = initWeights(resolved, { seed: 4 });
    const b = initWeights(resolved, { seed: 5 });
    expect((await run(a, 'imported 1')).output.data).toEqual(await expected(4));
    expect((await run(a, 'imported 1')).output.data).toEqual(await expected(4));
    expect((await run(b, 'imported 2')).output.data).toEqual(await expected(5));
    expect((await run(a)).output.data).toEqual(await expected(4));
    // The previews, made in the worker: one buffer, the same bytes the host would make.
    const { packedFeatureMaps } = await import('../../src/engine/modelRun');
    const local = packedFeatureMaps(first.intermediates!, 4);
    expect(first.featureMaps!.map((m) => [m.key, [...m.preview], [...m.ranges]])).toEqual(local.map((m) => [m.key, [...m.preview], [...m.ranges]]));
    expect(new Set(first.featureMaps!.map((m) => m.preview.buffer)).size).toBe(1);
  });

  it("writes a kept model's values into spare buffers the host hands over, with the same results", async () => {
    const resolved = resolveModel(small, { inputShape: [2, 3, 16, 16] });
    const c = client();
    const request = { model: small, weights: { kind: 'seed', seed: 6 } as const, options: { intermediates: true } };
    const expected = await forward(small, initWeights(resolved, { seed: 6 }), smallInput(), { intermediates: true });
    const first = await c.run({ ...request, input: smallInput() });
    // The values are in memory a fork does not make slow to write (forkSafe.ts): SharedArrayBuffers, whole WebAssembly pages.
    const buffers = [...new Set([first.output, ...first.intermediates!.map((s) => s.tensor)].map((t) => t.data.buffer))];
    expect(buffers.every((buffer) => buffer instanceof SharedArrayBuffer && buffer.byteLength % 65536 === 0)).toBe(true);
    // The first run's buffers, filled with NaN and marked at their last byte (past the values), go
    // back; the second run fills them: the same memory (the mark is there), the same values.
    for (const tensor of [first.output, ...first.intermediates!.map((s) => s.tensor)]) tensor.data.fill(Number.NaN);
    for (const buffer of buffers) new Uint8Array(buffer)[buffer.byteLength - 1] = 0x5a;
    const second = await c.run({ ...request, input: smallInput(), spare: buffers });
    expect(second.output.data).toEqual(expected.output.data);
    second.intermediates!.forEach((s, i) => expect(s.tensor.data).toEqual(expected.intermediates![i]!.tensor.data));
    const again = [second.output, ...second.intermediates!.map((s) => s.tensor)].map((t) => t.data.buffer);
    expect(again.every((buffer) => new Uint8Array(buffer)[buffer.byteLength - 1] === 0x5a)).toBe(true);
    // The previews' buffer of a run, filled with junk, goes back too: the next run's previews are written there, whole.
    const withPreviews = { ...request, previewChannels: 3 };
    const third = await c.run({ ...withPreviews, input: smallInput() });
    // Fork-safe memory too (forkSafe.ts): whole WebAssembly pages, shared rather than transferred.
    const previews = third.featureMaps![0]!.preview.buffer;
    expect(previews).toBeInstanceOf(SharedArrayBuffer);
    expect(previews.byteLength % 65536).toBe(0);
    const fresh = third.featureMaps!.map((m) => [m.key, [...m.preview], [...m.ranges]]);
    new Uint8Array(previews).fill(0xa5);
    const fourth = await c.run({ ...withPreviews, input: smallInput(), spare: [previews] });
    // The previews are written whole; the buffer handed back is written again by the run (for its
    // previews or its values, whichever takes a buffer of that size first): its last byte, past
    // every view, kept the junk.
    expect(fourth.featureMaps!.map((m) => [m.key, [...m.preview], [...m.ranges]])).toEqual(fresh);
    const written = [fourth.featureMaps![0]!.preview.buffer, ...[fourth.output, ...fourth.intermediates!.map((s) => s.tensor)].map((t) => t.data.buffer)];
    expect(written.some((b) => new Uint8Array(b)[b.byteLength - 1] === 0xa5)).toBe(true);
  });

  it('reports input errors with the layer path and the tensor', async () => {
    const resolved = resolveModel(small, { inputShape: [2, 3, 16, 16] });
    const weights = initWeights(resolved, { seed: 5 });
    delete weights['1.conv.1.0.weight'];
    const error = await client()
      .run({ model: small, input: smallInput(), weights })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineInputError);
    expect((error as EngineInputError).layerPath).toBe('layers[1].conv.1.0');
    expect((error as EngineInputError).tensor).toBe('1.conv.1.0.weight');
  });

  it('cancels a long run and then runs again on a fresh worker', async () => {
    const c = client();
    const controller = new AbortController();
    const started = performance.now();
    const run = c.run(
      { model: slow, input: { shape: [1, 64, 96, 96], data: new Float32Array(64 * 96 * 96).fill(0.1) }, weights: { kind: 'seed', seed: 1 } },
      {
        signal: controller.signal,
        onProgress: (done) => done === 1 && controller.abort(),
      },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - started).toBeLessThan(30_000);
    const after = await c.run({ model: small, input: smallInput(), weights: { kind: 'seed', seed: 2 } });
    expect(after.output.shape).toEqual([2, 8, 16, 16]);
  });

  it('cancelling one of two runs on one client leaves the other to finish', async () => {
    const c = client();
    const controller = new AbortController();
    const medium: ModelSpec = {
      layers: Array.from({ length: 6 }, () => ({ type: 'Conv2d' as const, in_channels: 16, out_channels: 16, kernel_size: 3, padding: 1 })),
    };
    const input = () => ({ shape: [1, 16, 48, 48], data: new Float32Array(16 * 48 * 48).map((_, i) => Math.sin(i / 11)) });
    const expected = await forward(medium, initWeights(resolveModel(medium, { inputShape: [1, 16, 48, 48] }), { seed: 5 }), input());
    const kept = c.run({ model: medium, input: input(), weights: { kind: 'seed', seed: 5 } });
    const cancelled = c.run({ model: medium, input: input(), weights: { kind: 'seed', seed: 6 } }, { signal: controller.signal });
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
    const result = await kept;
    expect(result.output.data).toEqual(expected.output.data);
    // The worker goes on serving runs.
    expect((await c.run({ model: small, input: smallInput(), weights: { kind: 'seed', seed: 2 } })).output.shape).toEqual([2, 8, 16, 16]);
  });

  it('a crashed worker rejects with a clear error, and the next run works', async () => {
    const c = client(crashingWorkerPath);
    const crash = c.run({ model: { ...small, name: 'crash' }, input: smallInput(), weights: { kind: 'seed', seed: 1 } });
    await expect(crash).rejects.toBeInstanceOf(EngineWorkerCrashedError);
    await expect(crash).rejects.toThrow(/exit code 7/);
    const after = await c.run({ model: small, input: smallInput(), weights: { kind: 'seed', seed: 1 } });
    expect(after.output.shape).toEqual([2, 8, 16, 16]);
  });
});
