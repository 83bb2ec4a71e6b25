import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeFilter, parseFilterName } from '../../src/engine/weights';
import { FILTER_NAMES } from '../../src/shared/protocol';
import {
  parseFromWebview,
  parseWireTensor,
  parseWorkspacePath,
  MAX_INPUT_BYTES,
  toWireTensor,
  fromWireTensor,
  DEFAULT_PREVIEW_CHANNELS,
} from '../../src/shared/protocol';
import { RunStore } from '../../src/playground/runStore';

const model = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 8 }] };
function runMessage(overrides: Record<string, unknown> = {}, bodyOverrides: Record<string, unknown> = {}) {
  return {
    type: 'request',
    requestId: 7,
    method: 'run',
    body: {
      backend: 'cpu',
      model,
      input: { shape: [1, 3, 4, 4], data: new Float32Array(48).fill(0.5).buffer },
      weights: { kind: 'seed', seed: 42 },
      intermediates: true,
      ...bodyOverrides,
    },
    ...overrides,
  };
}

describe('parseFromWebview', () => {
  it('accepts every well-formed message', () => {
    expect(parseFromWebview({ type: 'ready' })).toEqual({ ok: true, value: { type: 'ready' } });
    expect(parseFromWebview({ type: 'cancel', requestId: 3 })).toEqual({ ok: true, value: { type: 'cancel', requestId: 3 } });
    const run = parseFromWebview(runMessage());
    expect(run.ok).toBe(true);
    if (run.ok && run.value.type === 'request' && run.value.method === 'run') {
      expect(run.value.body.input.shape).toEqual([1, 3, 4, 4]);
      expect(run.value.body.weights).toEqual({ kind: 'seed', seed: 42 });
      expect(run.value.body.intermediates).toBe(true);
      expect(run.value.body.previewChannels).toBe(DEFAULT_PREVIEW_CHANNELS);
    }
    const capped = parseFromWebview(runMessage({}, { previewChannels: 16 }));
    expect(capped.ok && capped.value.type === 'request' && capped.value.method === 'run' && capped.value.body.previewChannels).toBe(16);
    expect(parseFromWebview({ type: 'request', requestId: 3, method: 'readTensor', body: { runId: 2, step: '1.0', channelStart: 4, channelEnd: 8 } })).toEqual({
      ok: true,
      value: { type: 'request', requestId: 3, method: 'readTensor', body: { runId: 2, step: '1.0', channelStart: 4, channelEnd: 8 } },
    });
    expect(parseFromWebview({ type: 'request', requestId: 3, method: 'readTensor', body: { runId: 2 } }).ok).toBe(true);
    expect(parseFromWebview({ type: 'request', requestId: 1, method: 'probeHostGpu', body: {} }).ok).toBe(true);
    expect(parseFromWebview({ type: 'request', requestId: 1, method: 'listWorkspaceFiles', body: { extension: '.safetensors' } }).ok).toBe(true);
    expect(parseFromWebview({ type: 'request', requestId: 1, method: 'saveFile', body: { suggestedName: 'model.py', content: 'x = 1' } }).ok).toBe(true);
    expect(parseFromWebview({ type: 'request', requestId: 1, method: 'saveFile', body: { suggestedName: 'map.png', content: new ArrayBuffer(8) } }).ok).toBe(
      true,
    );
    expect(parseFromWebview({ type: 'request', requestId: 2, method: 'readWorkspaceFile', body: { path: 'weights/m.safetensors' } })).toEqual({
      ok: true,
      value: { type: 'request', requestId: 2, method: 'readWorkspaceFile', body: { path: 'weights/m.safetensors' } },
    });
  });

  it('rejects messages that make no sense, with a reason and never a throw', () => {
    for (const junk of [
      null,
      undefined,
      42,
      'run',
      [],
      new ArrayBuffer(4),
      { type: 'explode' },
      { type: 'request' },
      { type: 'cancel' },
      { type: 'cancel', requestId: -1 },
    ]) {
      const parsed = parseFromWebview(junk);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error.length).toBeGreaterThan(5);
    }
  });

  it('never throws on random junk and random near-miss messages: a result with a reason, unexpected errors never', () => {
    const check = (message: unknown) => {
      const parsed = parseFromWebview(message);
      if (!parsed.ok) {
        expect(typeof parsed.error).toBe('string');
        expect(parsed.error.length).toBeGreaterThan(5);
        // Only the validator's own reasons: an exception from inside it would read "unexpected ...".
        expect(parsed.error).not.toMatch(/^unexpected /);
      }
    };
    fc.assert(
      fc.property(fc.anything({ withTypedArray: true, withBigInt: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true }), check),
      { numRuns: 500 },
    );
    const value = fc.oneof(
      fc.anything(),
      fc.constantFrom(
        NaN,
        Infinity,
        -1,
        0,
        2 ** 53,
        1e300,
        '',
        '..',
        '/etc/passwd',
        'a/../b.safetensors',
        'C:/x.safetensors',
        new ArrayBuffer(3),
        new Float32Array(2),
        [1, 3, 4, 4],
        [0],
        [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20],
      ),
    );
    const message = fc.record(
      {
        type: fc.oneof(fc.constantFrom('ready', 'request', 'cancel', 'log'), value),
        requestId: fc.oneof(fc.nat(), value),
        method: fc.oneof(fc.constantFrom('run', 'probeHostGpu', 'listWorkspaceFiles', 'readWorkspaceFile', 'saveFile', 'copyText'), value),
        level: fc.oneof(fc.constantFrom('info', 'warn', 'error'), value),
        message: value,
        body: fc.oneof(
          value,
          fc.record(
            {
              backend: fc.oneof(fc.constantFrom('cpu', 'webgpu'), value),
              model: fc.oneof(fc.constant(model), value, fc.record({ layers: fc.array(value, { maxLength: 3 }), name: value }, { requiredKeys: [] })),
              input: fc.oneof(value, fc.record({ shape: value, data: value }, { requiredKeys: [] })),
              weights: fc.oneof(
                value,
                fc.record(
                  { kind: fc.oneof(fc.constantFrom('seed', 'filters', 'safetensors'), value), seed: value, filter: value, path: value },
                  { requiredKeys: [] },
                ),
              ),
              intermediates: value,
              extension: value,
              path: value,
              suggestedName: value,
              content: value,
              text: value,
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(message, check), { numRuns: 2000 });
  });

  it('keeps the request id of a bad request so that the host can answer it', () => {
    const parsed = parseFromWebview(runMessage({}, { backend: 'tpu' }));
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types expect.stringContaining() as any
    expect(parsed).toEqual({ ok: false, requestId: 7, error: expect.stringContaining('body.backend must be one of cpu, webgpu') });
    const unknown = parseFromWebview({ type: 'request', requestId: 9, method: 'deleteEverything', body: {} });
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types expect.stringContaining() as any
    expect(unknown).toMatchObject({ ok: false, requestId: 9, error: expect.stringContaining('method must be one of') });
  });

  it('checks the input tensor: size, shape, finiteness, data type', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ input: { shape: [1, 3, 4, 4], data: new ArrayBuffer(12) } }, 'needs 192'],
      [{ input: { shape: [1, 3, 4, 4], data: Array(48).fill(0) } }, 'must be an ArrayBuffer'],
      [{ input: { shape: [3, 4, 4], data: new ArrayBuffer(192) } }, 'must be NCHW'],
      [{ input: { shape: [1, 3, 0, 4], data: new ArrayBuffer(0) } }, 'shape[2] must be in [1'],
      [{ input: { shape: [1, 3, 4.5, 4], data: new ArrayBuffer(0) } }, 'must be an integer'],
      [{ input: { shape: [64, 3, 1024, 1024], data: new ArrayBuffer(4) } }, 'too large'],
      [{ input: { shape: [1, 1, 1, 2], data: new Float32Array([1, NaN]).buffer } }, 'data[1] is NaN'],
      [{ model: { layers: [] } }, 'model.layers must be a non-empty list'],
      [{ model: { layers: [{ kind: 'Conv2d' }] } }, 'model.layers[0] must be an object with a string "type"'],
      [{ weights: { kind: 'seed', seed: -3 } }, 'weights.seed must be in'],
      [{ weights: { kind: 'filters', filter: 'rm -rf' } }, 'weights.filter must be one of'],
      [{ weights: { kind: 'safetensors', path: '../../etc/passwd.safetensors' } }, 'must not leave the workspace'],
      [{ weights: { kind: 'safetensors', path: 'model.bin' } }, 'must name a .safetensors file'],
      [{ intermediates: 'all' }, 'body.intermediates must be true or false'],
      [{ previewChannels: -1 }, 'body.previewChannels must be in [0'],
      [{ previewChannels: 1.5 }, 'body.previewChannels must be an integer'],
      [{ input: { shape: [1, 3, 4, 4], held: 'ABC' } }, 'must be a SHA-256 digest'],
      [{ input: { shape: [1, 3, 4, 4], held: 'f'.repeat(63) + 'g' } }, 'must be a SHA-256 digest'],
      [{ input: { shape: [1, 3, 4, 4], held: 'f'.repeat(65) } }, 'at most 64'],
      [{ input: { shape: [1, 3, 4, 4], held: 7 } }, 'body.input.held must be a string'],
      [{ input: { shape: [1, 3, 4, 4], held: 'f'.repeat(64), data: new ArrayBuffer(192) } }, 'both held and data'],
      [{ input: { shape: [3, 4, 4], held: 'f'.repeat(64) } }, 'must be NCHW'],
      [{ input: { shape: 'x', held: 'f'.repeat(64) } }, 'body.input.shape must be a list'],
    ];
    for (const [override, message] of cases) {
      const parsed = parseFromWebview(runMessage({}, override));
      expect(parsed.ok, message).toBe(false);
      if (!parsed.ok) expect(parsed.error).toContain(message);
    }
    expect(MAX_INPUT_BYTES).toBeGreaterThan(4 * 3 * 224 * 224);
  });

  it('refuses file names and paths that could escape', () => {
    for (const name of ['../x.py', 'a/b.py', '', '.bashrc']) {
      const parsed = parseFromWebview({ type: 'request', requestId: 1, method: 'saveFile', body: { suggestedName: name, content: '' } });
      expect(parsed.ok, name).toBe(false);
    }
    expect(() => parseWorkspacePath('/etc/passwd')).toThrow(/relative/);
    expect(() => parseWorkspacePath('C:\\x.safetensors')).toThrow(/relative/);
    expect(() => parseWorkspacePath('a\\..\\..\\b')).toThrow(/leave the workspace/);
    expect(parseWorkspacePath('models\\m.safetensors')).toBe('models/m.safetensors');
  });

  it('round-trips tensors through the wire form, including views into larger buffers', () => {
    const big = new Float32Array([9, 1, 2, 3, 9]);
    const view = big.subarray(1, 4);
    const wire = toWireTensor([1, 1, 1, 3], view);
    expect(wire.data.byteLength).toBe(12);
    expect(parseWireTensor(wire, 't').shape).toEqual([1, 1, 1, 3]);
    expect(Array.from(fromWireTensor(wire).data)).toEqual([1, 2, 3]);
  });
});

describe('readTensor', () => {
  it('refuses bodies that make no sense', () => {
    const cases: [unknown, string][] = [
      [{}, 'body.runId must be an integer'],
      [{ runId: -1 }, 'body.runId must be in'],
      [{ runId: 1, step: 7 }, 'body.step must be a string'],
      [{ runId: 1, channelStart: 3 }, 'body.channelEnd must be an integer'],
      [{ runId: 1, channelStart: 3, channelEnd: 3 }, 'must be greater than body.channelStart'],
      [{ runId: 1, channelStart: -2, channelEnd: 3 }, 'body.channelStart must be in'],
    ];
    for (const [body, message] of cases) {
      const parsed = parseFromWebview({ type: 'request', requestId: 5, method: 'readTensor', body });
      expect(parsed.ok, message).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error).toContain(message);
        expect(parsed.requestId).toBe(5);
      }
    }
  });

  it("reads the latest run's values, channels of a step or all of the output, and only those", () => {
    const store = new RunStore();
    const step = { key: '1.0', shape: [1, 3, 2, 2], data: Float32Array.from({ length: 12 }, (_, i) => i) };
    const output = { shape: [1, 5], data: new Float32Array([1, 2, 3, 4, 5]) };
    const first = store.keep(output, [step]);
    const channels = store.read({ runId: first, step: '1.0', channelStart: 1, channelEnd: 3 });
    expect(channels.shape).toEqual([1, 2, 2, 2]);
    expect([...new Float32Array(channels.data)]).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    // A fresh buffer: the page may transfer or keep it without touching the kept values.
    new Float32Array(channels.data).fill(-1);
    expect(step.data[4]).toBe(4);
    expect([...new Float32Array(store.read({ runId: first }).data)]).toEqual([1, 2, 3, 4, 5]);
    expect(() => store.read({ runId: first, step: 'nope' })).toThrow(/has no step "nope"/);
    expect(() => store.read({ runId: first, step: '1.0', channelStart: 2, channelEnd: 4 })).toThrow(/out of range: 1.0 has 3/);
    expect(() => store.read({ runId: first, channelStart: 0, channelEnd: 1 })).toThrow(/only from a \[1, C, H, W\] tensor/);
    const second = store.keep(output, []);
    expect(second).not.toBe(first);
    expect(() => store.read({ runId: first })).toThrow(/no longer kept/);
    store.clear();
    expect(() => store.read({ runId: second })).toThrow(/no longer kept/);
  });

  it("hands back the latest run's buffers, each once, and keeps nothing after", () => {
    const store = new RunStore();
    expect(store.release()).toEqual([]);
    // Buffers given back (a sent answer's previews) come out with the next release, the latest four at most.
    const given = [1, 2, 3, 4, 5].map((n) => new ArrayBuffer(n));
    for (const buffer of given) store.giveBack(buffer);
    store.giveBack(new ArrayBuffer(0));
    expect(store.release()).toEqual(given.slice(1));
    expect(store.release()).toEqual([]);
    const shared = new Float32Array(8);
    const output = { shape: [1, 4], data: shared.subarray(0, 4) };
    const steps = [
      { key: 'a', shape: [1, 1, 2, 2], data: shared.subarray(4) },
      { key: 'b', shape: [1, 1, 2, 2], data: new Float32Array(4) },
      // The engine worker's values live in shared memory (forkSafe.ts): handed back too.
      { key: 'c', shape: [1, 1, 2, 2], data: new Float32Array(new SharedArrayBuffer(16)) },
    ];
    const id = store.keep(output, steps);
    const buffers = store.release();
    expect(buffers).toHaveLength(3);
    expect(buffers).toContain(shared.buffer);
    expect(buffers).toContain(steps[1]!.data.buffer);
    expect(buffers).toContain(steps[2]!.data.buffer);
    expect(() => store.read({ runId: id })).toThrow(/no longer kept/);
    expect(store.release()).toEqual([]);
  });
});

describe('FILTER_NAMES', () => {
  it('lists filters the engine makes', () => {
    for (const name of FILTER_NAMES) {
      expect(parseFilterName(name)).toBe(name);
      expect(makeFilter(name, 3, 3)).toHaveLength(9);
    }
  });
});
