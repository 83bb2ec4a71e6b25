/**
 * The playground's layer editor offers every layer type of the spec: each has its fields, a new
 * layer of each type is valid where the editor adds it, and every field it shows is an argument
 * the spec accepts (a value typed into it reaches the spec's own validation, not a typo error).
 */
import { describe, expect, it } from 'vitest';
import { LAYER_TYPES, resolveModel, SpecError, type LayerSpec } from '../../src/shared/spec';
import { LAYER_FIELDS, newLayer, optionsOf, parseFieldText } from '../../webview/layerFields';

describe('the layer editor', () => {
  /** Where the editor would add a layer of this type: a Linear after a pool and a Flatten. */
  const before = (type: string): LayerSpec[] => (type === 'Linear' ? [{ type: 'AdaptiveAvgPool2d', output_size: 1 }, { type: 'Flatten' }] : []);

  it.each(LAYER_TYPES.map((type) => [type]))('offers %s: a new one resolves after a [1, 32, 28, 28] input', (type) => {
    expect(LAYER_FIELDS[type]).toBeDefined();
    const layer = newLayer(type, type === 'Linear' ? [1, 32] : [1, 32, 28, 28]);
    const model = resolveModel({ input_shape: [1, 32, 28, 28], layers: [...before(type), layer] });
    expect(model.layers[model.layers.length - 1]!.spec.type).toBe(type);
    for (const field of LAYER_FIELDS[type].filter((f) => f.required)) expect(layer, field.name).toHaveProperty(field.name);
  });

  it.each(LAYER_TYPES.map((type) => [type]))('shows only arguments %s takes', (type) => {
    for (const field of LAYER_FIELDS[type]) {
      const layer = { ...newLayer(type, type === 'Linear' ? [1, 32] : [1, 32, 28, 28]), [field.name]: '?' };
      try {
        resolveModel({ input_shape: [1, 32, 28, 28], layers: [...before(type), layer] });
      } catch (error) {
        expect(error).toBeInstanceOf(SpecError);
        // Refused for its value, never as an unknown argument.
        expect((error as SpecError).reason).not.toMatch(/is not an argument of/);
      }
    }
  });

  it('reads Upsample and pooling fields as the spec takes them', () => {
    expect(parseFieldText('pair', '2, 1.5')).toEqual([2, 1.5]);
    expect(parseFieldText('pair', '0.5')).toBe(0.5);
    expect(optionsOf('upsample_mode')).toEqual(['nearest', 'bilinear']);
    expect(optionsOf('activation')).toContain('Hardsigmoid');
    const layer = { ...newLayer('Upsample', [1, 8, 10, 10]), scale_factor: parseFieldText('pair', '2, 1.5'), mode: 'bilinear' } as LayerSpec;
    expect(resolveModel({ input_shape: [1, 8, 10, 10], layers: [layer] }).outputShape).toEqual([1, 8, 20, 15]);
  });
});
