import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/shared/presets';
import { convOutputSize, parameterShapes, resolveModel, resolvePadding, SpecError, type ModelSpec } from '../../src/shared/spec';

const conv = (extra: Record<string, unknown>, input = [1, 8, 10, 10]): ModelSpec => ({
  input_shape: input,
  layers: [{ type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 3, ...extra }],
});

function specError(spec: unknown): SpecError {
  try {
    resolveModel(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return error as SpecError;
  }
  throw new Error('expected a SpecError');
}

describe('shape inference', () => {
  it("uses PyTorch's output formula with dilation", () => {
    expect(resolveModel(conv({ stride: 2, padding: 1 })).outputShape).toEqual([1, 8, 5, 5]);
    expect(resolveModel(conv({ dilation: 2, padding: 1 })).outputShape).toEqual([1, 8, 8, 8]);
    expect(resolveModel(conv({ kernel_size: [1, 5], stride: [1, 3], padding: [0, 2] })).outputShape).toEqual([1, 8, 10, 4]);
  });

  it('"same" puts the extra pixel on the right/bottom, as PyTorch does', () => {
    const model = resolveModel(conv({ kernel_size: 4, padding: 'same' }));
    expect(model.outputShape).toEqual([1, 8, 10, 10]);
    const node = model.leaves[0]!.node;
    expect(node.op === 'conv2d' && node.pads).toEqual([1, 2, 1, 2]);
    expect(resolvePadding('same', 0, 10, 3, 1, 3)).toEqual([3, 3]);
  });

  it('"same" with stride > 1 is rejected as PyTorch rejects it', () => {
    const error = specError(conv({ stride: 2, padding: 'same' }));
    expect(error.path).toBe('layers[0]');
    expect(error.field).toBe('padding');
    expect(error.message).toMatch(/not supported for strided convolutions/);
  });

  it('"tf_same" is TensorFlow\'s SAME: out = ceil(in / stride), extra pixel after', () => {
    const model = resolveModel(conv({ stride: 2, padding: 'tf_same' }, [1, 8, 10, 11]));
    expect(model.outputShape).toEqual([1, 8, 5, 6]);
    const node = model.leaves[0]!.node;
    // H: out 5, total = max(4*2 + 3 - 10, 0) = 1 -> [0, 1]; W: out 6, total = 10 + 3 - 11 = 2 -> [1, 1]
    expect(node.op === 'conv2d' && node.pads).toEqual([0, 1, 1, 1]);
  });

  it('matches the direct formula on random convs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (size, k, s, d, p) => {
          const expected = Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
          const spec = conv({ kernel_size: k, stride: s, dilation: d, padding: p }, [1, 8, size, size]);
          if (expected < 1) {
            expect(() => resolveModel(spec)).toThrow(SpecError);
          } else {
            expect(resolveModel(spec).outputShape).toEqual([1, 8, expected, expected]);
            expect(convOutputSize(size, k, s, d, 2 * p)).toBe(expected);
          }
        },
      ),
    );
  });
});

describe('validation names the layer, the field and the reason', () => {
  it('groups that do not divide the channels', () => {
    const error = specError({
      input_shape: [1, 32, 8, 8],
      layers: [{ type: 'ReLU' }, { type: 'Conv2d', in_channels: 32, out_channels: 32, kernel_size: 3, groups: 3 }],
    });
    expect(error.message).toBe('layers[1].groups: groups=3 does not divide in_channels=32');
    expect(error.layerIndex).toBe(1);
  });

  it('channel mismatch, unknown types and fields, bad values', () => {
    expect(specError({ input_shape: [1, 3, 8, 8], layers: [{ type: 'Conv2d', in_channels: 4, out_channels: 8, kernel_size: 3 }] }).message).toMatch(
      /in_channels=4 but the input has 3 channels/,
    );
    expect(specError({ layers: [{ type: 'Conv3d' }] }).message).toMatch(/unknown layer type "Conv3d"/);
    expect(specError({ layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, kernal: 2 }] }).field).toBe('kernal');
    expect(specError({ layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 0 }] }).message).toMatch(/kernel_size: must be >= 1/);
    expect(specError({ layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 8, kernel_size: 3, padding_mode: 'mirror' }] }).field).toBe('padding_mode');
    expect(specError({ layers: [] }).field).toBe('layers');
    expect(specError('nope').message).toMatch(/JSON object/);
    expect(specError({ layers: [null] }).message).toMatch(/must be an object/);
  });

  it('refuses null and mistyped flags instead of reading them as defaults (as the JSON schema does)', () => {
    // PyTorch reads bias=None as no bias; the spec used to read null as the default, bias=True.
    expect(specError(conv({ bias: null })).message).toBe('layers[0].bias: is null; leave the field out to take its default');
    expect(specError(conv({ stride: null })).field).toBe('stride');
    expect(specError({ layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 8, pw_activation: null }] }).field).toBe('pw_activation');
    expect(specError({ input_shape: null, layers: [{ type: 'ReLU' }] }).field).toBe('input_shape');
    expect(specError({ layers: [{ type: 'ReLU', inplace: 'yes' }] }).message).toBe('layers[0].inplace: must be true or false, got "yes"');
    expect(specError({ layers: [{ type: 'Dropout', inplace: 1 }] }).field).toBe('inplace');
    expect(() =>
      resolveModel({
        input_shape: [1, 3, 8, 8],
        layers: [
          { type: 'ReLU6', inplace: true },
          { type: 'Dropout', p: 0.1, inplace: false },
        ],
      }),
    ).not.toThrow();
  });

  it('a residual add of mismatched tensors is an error, not a broadcast', () => {
    const error = specError({
      input_shape: [1, 8, 8, 8],
      layers: [{ type: 'Residual', body: [{ type: 'Conv2d', in_channels: 8, out_channels: 16, kernel_size: 1 }] }],
    });
    expect(error.path).toBe('layers[0]');
    expect(error.message).toMatch(/\[1, 16, 8, 8\] to match its input \[1, 8, 8, 8\]/);
  });

  it('errors inside composites carry the nested path', () => {
    const error = specError({
      input_shape: [1, 8, 8, 8],
      layers: [{ type: 'Residual', body: [{ type: 'ReLU' }, { type: 'Conv2d', in_channels: 4, out_channels: 8, kernel_size: 1 }] }],
    });
    expect(error.path).toBe('layers[0].body.1');
  });

  it('refuses a spec over the activation budget with the bytes it would need', () => {
    const error = specError({ input_shape: [64, 3, 1024, 1024], layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 64, kernel_size: 3 }] });
    expect(error.message).toMatch(/would need 16\.\d GiB .* over the budget of 2\.0 GiB/);
    expect(() => resolveModel({ input_shape: [1, 3, 16, 16], layers: [{ type: 'ReLU' }] }, { maxActivationBytes: 100 })).toThrow(/over the budget/);
  });

  it('refuses a spec whose weights exceed the budget, naming the largest tensor (tiny input, huge kernel)', () => {
    const error = specError({
      input_shape: [1, 4, 2, 2],
      layers: [{ type: 'Conv2d', in_channels: 4, out_channels: 1048576, kernel_size: [1024, 1024], padding: 512 }],
    });
    expect(error.message).toBe(
      'model.layers: the weights would need 16.0 TiB (fp32; the largest, 0.weight [1048576, 4, 1024, 1024], 16.0 TiB), over the budget of 2.0 GiB',
    );
    const small: ModelSpec = { input_shape: [1, 8, 4, 4], layers: [{ type: 'Conv2d', in_channels: 8, out_channels: 8, kernel_size: 1 }] };
    expect(() => resolveModel(small, { maxParameterBytes: 8 * 8 * 4 })).toThrow(/weights would need 288 B .*over the budget of 256 B/);
    expect(() => resolveModel(small, { maxParameterBytes: 8 * 9 * 4 })).not.toThrow();
  });

  it('reflect padding must be smaller than the input', () => {
    expect(specError(conv({ padding: 3, padding_mode: 'reflect' }, [1, 8, 3, 3])).message).toMatch(/reflect padding of 3/);
  });

  it('never crashes on random junk', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          resolveModel(value);
        } catch (error) {
          expect(error).toBeInstanceOf(SpecError);
        }
      }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'groups', 'dilation'),
          fc.oneof(fc.integer({ min: -3, max: 9 }), fc.constant('same'), fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }))),
        ),
        (fields) => {
          try {
            const model = resolveModel({ input_shape: [1, 4, 9, 9], layers: [{ type: 'Conv2d', ...fields }] });
            expect(model.outputShape.every((d) => Number.isInteger(d) && d >= 1)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(SpecError);
          }
        },
      ),
    );
  });
});

describe('state_dict keys', () => {
  it('DepthwiseSeparable is a nested Sequential: dw, BN, act, pw, BN, act', () => {
    const keys = parameterShapes(
      resolveModel({ input_shape: [1, 8, 8, 8], layers: [{ type: 'ReLU' }, { type: 'DepthwiseSeparable', in_channels: 8, out_channels: 16 }] }),
    ).map((t) => `${t.key} ${t.shape.join('x')}`);
    expect(keys).toEqual([
      '1.0.weight 8x1x3x3',
      '1.1.weight 8',
      '1.1.bias 8',
      '1.1.running_mean 8',
      '1.1.running_var 8',
      '1.3.weight 16x8x1x1',
      '1.4.weight 16',
      '1.4.bias 16',
      '1.4.running_mean 16',
      '1.4.running_var 16',
    ]);
  });

  it("InvertedResidual uses torchvision's keys", () => {
    const keys = parameterShapes(
      resolveModel({ input_shape: [1, 16, 8, 8], layers: [{ type: 'InvertedResidual', in_channels: 16, out_channels: 16, expand_ratio: 6 }] }),
    )
      .filter((t) => t.key.endsWith('weight'))
      .map((t) => t.key);
    expect(keys).toEqual(['0.conv.0.0.weight', '0.conv.0.1.weight', '0.conv.1.0.weight', '0.conv.1.1.weight', '0.conv.2.weight', '0.conv.3.weight']);
    const residual = resolveModel({ input_shape: [1, 16, 8, 8], layers: [{ type: 'InvertedResidual', in_channels: 16, out_channels: 16 }] });
    expect(residual.layers[0]!.node.op).toBe('residual');
    const strided = resolveModel({ input_shape: [1, 16, 8, 8], layers: [{ type: 'InvertedResidual', in_channels: 16, out_channels: 16, stride: 2 }] });
    expect(strided.layers[0]!.node.op).toBe('sequence');
  });

  it('every preset resolves', () => {
    for (const preset of PRESETS) expect(() => resolveModel(preset.model), preset.name).not.toThrow();
  });
});

/**
 * The part of JSON Schema that media/model-spec.schema.json uses (type, const, enum, minimum,
 * maximum, exclusiveMinimum, items, minItems, maxItems, pattern, properties, required,
 * additionalProperties: false, oneOf, $ref to #/$defs): true when the value is valid.
 */
function schemaAccepts(schema: Record<string, unknown>, value: unknown, root: Record<string, unknown> = schema): boolean {
  if (typeof schema.$ref === 'string')
    return schemaAccepts((root.$defs as Record<string, Record<string, unknown>>)[schema.$ref.replace('#/$defs/', '')]!, value, root);
  if (Array.isArray(schema.oneOf)) return (schema.oneOf as Record<string, unknown>[]).filter((s) => schemaAccepts(s, value, root)).length === 1;
  if ('const' in schema && value !== schema.const) return false;
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return false;
  switch (schema.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return false;
      break;
    case 'number':
      if (typeof value !== 'number') return false;
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return false;
      break;
    case 'string':
      if (typeof value !== 'string' || (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))) return false;
      break;
    case 'array':
      if (!Array.isArray(value)) return false;
      break;
    case 'object':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      break;
    default:
      break;
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return false;
    if (typeof schema.maximum === 'number' && value > schema.maximum) return false;
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) return false;
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return false;
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return false;
    if (schema.items && !value.every((v) => schemaAccepts(schema.items as Record<string, unknown>, v, root))) return false;
  }
  if (schema.type === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    if (Array.isArray(schema.required) && !schema.required.every((key: string) => key in object)) return false;
    for (const [key, v] of Object.entries(object)) {
      if (properties[key]) {
        if (!schemaAccepts(properties[key], v, root)) return false;
      } else if (schema.additionalProperties === false) return false;
    }
  }
  return true;
}

describe('the JSON schema', () => {
  it('is current and names every layer type the spec knows', async () => {
    const { readFileSync } = await import('node:fs');
    const { LAYER_TYPES } = await import('../../src/shared/spec');
    const { buildSchema } = await import('../../scripts/writeSchema.mjs');
    const committed = JSON.parse(readFileSync('media/model-spec.schema.json', 'utf8')) as {
      $defs: { layer: { oneOf: { properties: { type: { const: string } } }[] } };
    };
    expect(committed).toEqual(buildSchema());
    const types = committed.$defs.layer.oneOf.map((l) => l.properties.type.const);
    expect([...types].sort()).toEqual([...LAYER_TYPES].sort());
  });

  it('accepts every preset, and rejects the simple type errors that resolveModel rejects (and the reverse)', async () => {
    const { readFileSync } = await import('node:fs');
    const schema = JSON.parse(readFileSync('media/model-spec.schema.json', 'utf8')) as Record<string, unknown>;
    for (const preset of PRESETS) expect(schemaAccepts(schema, preset.model), preset.name).toBe(true);
    const layer = (extra: Record<string, unknown>) => ({ layers: [{ type: 'Conv2d', in_channels: 3, out_channels: 6, kernel_size: 3, ...extra }] });
    const invalid: unknown[] = [
      layer({ bias: null }),
      layer({ bias: 'no' }),
      layer({ stride: 0 }),
      layer({ stride: 1.5 }),
      layer({ kernel_size: [3] }),
      layer({ padding: -1 }),
      layer({ padding: 'SAME' }),
      layer({ padding_mode: 'mirror' }),
      layer({ groups: 0 }),
      layer({ kernal_size: 3 }),
      { layers: [{ type: 'ReLU', inplace: 'yes' }] },
      { layers: [{ type: 'GELU', approximate: 'erf' }] },
      { layers: [{ type: 'Dropout', p: 2 }] },
      { layers: [{ type: 'BatchNorm2d', num_features: 3, eps: 0 }] },
      { layers: [{ type: 'Flatten', start_dim: 1.5 }] },
      { layers: [{ type: 'Flatten', start_dim: -5 }] },
      { layers: [{ type: 'Linear', in_features: 3, out_features: 2, bias: 1 }] },
      { layers: [{ type: 'InvertedResidual', in_channels: 3, out_channels: 3, stride: 3 }] },
      { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 6, activation: 'relu' }] },
      { layers: [{ type: 'Residual', body: [] }] },
      { layers: [] },
      { layers: [{ type: 'Conv3d' }] },
      { name: 3, layers: [{ type: 'ReLU' }] },
      { input_shape: [1, 3, 8], layers: [{ type: 'ReLU' }] },
      { input_shape: null, layers: [{ type: 'ReLU' }] },
      { layers: [{ type: 'ReLU' }], extra: 1 },
    ];
    for (const spec of invalid) {
      expect(schemaAccepts(schema, spec), JSON.stringify(spec)).toBe(false);
      expect(() => resolveModel(spec, { inputShape: [1, 3, 8, 8] }), JSON.stringify(spec)).toThrow(SpecError);
    }
    const node = (extra: Record<string, unknown>) => ({
      input_shape: [1, 3, 8, 8],
      nodes: [{ name: 'features.0', inputs: ['input'], type: 'Conv2d', in_channels: 3, out_channels: 6, kernel_size: 3, ...extra }],
    });
    const graphInvalid: unknown[] = [
      node({ name: '0bad' }),
      node({ inputs: [] }),
      node({ inputs: ['in put'] }),
      node({ inputs: 'input' }),
      node({ bias: 'no' }),
      { nodes: [{ name: 'a', inputs: ['input'], type: 'Split', dim: 1 }] },
      { nodes: [{ name: 'a', inputs: ['input'], type: 'Concat', dim: 1.5 }] },
      { nodes: [{ name: 'a', type: 'ReLU' }] },
      { nodes: [{ inputs: ['input'], type: 'ReLU' }] },
      { nodes: [] },
      { nodes: [{ name: 'a', inputs: ['input'], type: 'ReLU' }], outputs: [] },
      { nodes: [{ name: 'a', inputs: ['input'], type: 'ReLU' }], layers: [{ type: 'ReLU' }] },
    ];
    for (const spec of graphInvalid) {
      expect(schemaAccepts(schema, spec), JSON.stringify(spec)).toBe(false);
      expect(() => resolveModel(spec, { inputShape: [1, 3, 8, 8] }), JSON.stringify(spec)).toThrow(SpecError);
    }
    const graphValid: unknown[] = [
      {
        nodes: [
          { name: 's', inputs: ['input'], type: 'Split', split_size_or_sections: [1, 2], dim: 1 },
          { name: 'b.0', inputs: ['s:1'], type: 'Sequential', layers: [{ type: 'ReLU' }] },
          { name: 'c', inputs: ['s:0', 'b.0'], type: 'Concat', dim: 1 },
        ],
        outputs: ['c', 's:1'],
      },
      {
        nodes: [
          { name: 'p', inputs: ['input'], type: 'AdaptiveAvgPool2d', output_size: 1 },
          { name: 'm', inputs: ['input', 'p'], type: 'Mul' },
          { name: 'a', inputs: ['m', 'input'], type: 'Add' },
          { name: 'sm', inputs: ['a'], type: 'Softmax', dim: 1 },
        ],
      },
    ];
    for (const spec of graphValid) {
      expect(schemaAccepts(schema, spec), JSON.stringify(spec)).toBe(true);
      expect(() => resolveModel(spec, { inputShape: [1, 3, 8, 8] }), JSON.stringify(spec)).not.toThrow();
    }
    // Every graph-form fixture the PyTorch script wrote.
    const { loadFixtures } = await import('./fixtureLoader');
    const graphs = loadFixtures().filter((f) => 'nodes' in f.model);
    expect(graphs.length).toBeGreaterThanOrEqual(6);
    for (const fixture of graphs) expect(schemaAccepts(schema, fixture.model), fixture.name).toBe(true);
    const valid: unknown[] = [
      layer({ padding: 'tf_same', stride: [2, 1], dilation: [1, 2], bias: false, padding_mode: 'circular' }),
      {
        layers: [
          { type: 'ReLU', inplace: true },
          { type: 'Flatten', start_dim: -3 },
        ],
      },
    ];
    for (const spec of valid) {
      expect(schemaAccepts(schema, spec), JSON.stringify(spec)).toBe(true);
      expect(() => resolveModel(spec, { inputShape: [1, 3, 8, 8] }), JSON.stringify(spec)).not.toThrow();
    }
  });
});
