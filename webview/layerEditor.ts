/**
 * The layer list: type and every argument of each layer, add/remove/reorder, live shapes, and
 * the spec's validation message shown at the layer (and the field) it is about.
 */
import { LAYER_TYPES, type LayerSpec, type LayerType, type ModelSpec, type ResolvedLayer, type ResolvedModel, type SpecError } from '../src/shared/spec';
import { formatShape } from '../src/shared/format';
import { clear, h, iconButton, select } from './dom';
import { LAYER_FIELDS, fieldText, newLayer, optionsOf, parseFieldText, type FieldInfo } from './layerFields';

export interface LayerEditorHost {
  model(): ModelSpec;
  /** `structural`: the list changed shape (the editor re-renders); otherwise a field changed in place. */
  changed(structural: boolean): void;
}

export interface Validation {
  resolved?: ResolvedModel;
  error?: SpecError | Error;
  /** When layer N is invalid: layers 0..N-1 resolved on their own (their shapes still hold). */
  prefix?: ResolvedModel;
}

export class LayerEditor {
  private readonly list: HTMLOListElement;
  private lastValidation: Validation = {};

  constructor(
    private readonly root: HTMLElement,
    private readonly host: LayerEditorHost,
  ) {
    this.list = h('ol', { className: 'layer-list', 'aria-label': 'Layers' });
    let addType: LayerType = 'DepthwiseSeparable';
    const addRow = h(
      'div',
      { className: 'row add-layer' },
      select(LAYER_TYPES, addType, (value) => (addType = value), { 'aria-label': 'Type of the layer to add', id: 'add-layer-type' }),
      h('button', { type: 'button', id: 'add-layer', onclick: () => this.add(addType) }, 'Add layer'),
    );
    root.append(this.list, addRow);
  }

  render(): void {
    clear(this.list);
    // A graph-form model (an imported network) has no layers to edit: it is shown as its blocks.
    (this.host.model().layers ?? []).forEach((layer, index) => this.list.appendChild(this.card(layer, index)));
    this.showValidation(this.lastValidation);
  }

  private add(type: LayerType): void {
    const model = this.host.model();
    const before = this.lastValidation.resolved?.outputShape;
    model.layers.push(newLayer(type, model.layers.length ? before : model.input_shape));
    this.host.changed(true);
    (this.list.lastElementChild?.querySelector('select') as HTMLElement | null)?.focus();
  }

  private move(index: number, delta: number): void {
    const layers = this.host.model().layers;
    const target = index + delta;
    if (target < 0 || target >= layers.length) return;
    [layers[index], layers[target]] = [layers[target]!, layers[index]!];
    this.host.changed(true);
    (this.list.children[target]?.querySelector(`[data-action="${delta < 0 ? 'up' : 'down'}"]`) as HTMLElement | null)?.focus();
  }

  private remove(index: number): void {
    const layers = this.host.model().layers;
    layers.splice(index, 1);
    this.host.changed(true);
    (this.list.children[Math.min(index, layers.length - 1)]?.querySelector('select') as HTMLElement | null)?.focus();
  }

  private card(layer: LayerSpec, index: number): HTMLLIElement {
    const raw = layer as unknown as Record<string, unknown>;
    const knownType = (LAYER_TYPES as readonly string[]).includes(String(raw.type));
    const typeSelect = select(
      knownType ? LAYER_TYPES : [...LAYER_TYPES, String(raw.type) as LayerType],
      String(raw.type) as LayerType,
      (type) => {
        const before = index > 0 ? this.resolvedLayer(index - 1)?.outShape : this.host.model().input_shape;
        this.host.model().layers[index] = newLayer(type, before);
        this.host.changed(true);
      },
      { 'aria-label': `Layer ${index} type`, className: 'layer-type' },
    );
    const fields = knownType ? LAYER_FIELDS[raw.type as LayerType] : [];
    const last = this.host.model().layers.length - 1;
    return h(
      'li',
      { className: 'layer-card', 'data-index': index },
      h(
        'div',
        { className: 'layer-head' },
        h('span', { className: 'layer-index' }, `#${index}`),
        typeSelect,
        h('span', { className: 'layer-shape', 'aria-live': 'polite' }),
        h(
          'span',
          { className: 'layer-actions' },
          iconButton('arrow-up', `Move layer ${index} up`, () => this.move(index, -1), { 'data-action': 'up', disabled: index === 0 }),
          iconButton('arrow-down', `Move layer ${index} down`, () => this.move(index, 1), { 'data-action': 'down', disabled: index === last }),
          iconButton('copy', `Duplicate layer ${index}`, () => {
            this.host.model().layers.splice(index + 1, 0, structuredClone(layer));
            this.host.changed(true);
          }),
          iconButton('trash', `Remove layer ${index}`, () => this.remove(index), { 'data-action': 'remove' }),
        ),
      ),
      h(
        'div',
        { className: 'layer-fields' },
        fields.map((field) => this.fieldControl(index, field, raw[field.name])),
      ),
      h('div', { className: 'layer-error', role: 'alert', hidden: true }),
    );
  }

  private fieldControl(index: number, field: FieldInfo, value: unknown): HTMLElement {
    const set = (text: string) => {
      const layer = this.host.model().layers[index] as unknown as Record<string, unknown>;
      const parsed = parseFieldText(field.kind, text);
      if (parsed === undefined) delete layer[field.name];
      else layer[field.name] = parsed;
      this.host.changed(false);
    };
    const id = `layer-${index}-${field.name}`;
    const options = optionsOf(field.kind);
    let control: HTMLElement;
    if (options) {
      const current = fieldText(value);
      const entries: [string, string][] = [['', `default (${field.defaultText ?? 'none'})`], ...options.map((o): [string, string] => [o, o])];
      if (current && !options.includes(current)) entries.push([current, current]);
      control = select(entries, current, set, { id, 'data-field': field.name });
    } else if (field.kind === 'body') {
      const area = h('textarea', { id, 'data-field': field.name, rows: 6, spellcheck: 'false', className: 'json' });
      area.value = fieldText(value);
      area.addEventListener('change', () => set(area.value));
      control = area;
    } else {
      const input = h('input', {
        id,
        type: 'text',
        inputmode: field.kind === 'int' ? 'numeric' : undefined,
        'data-field': field.name,
        placeholder: field.required ? 'required' : field.defaultText,
        value: fieldText(value),
        spellcheck: 'false',
      });
      input.addEventListener('input', () => set(input.value));
      control = input;
    }
    return h(
      'label',
      { className: `field${field.kind === 'body' ? ' wide' : ''}`, title: field.hint, for: id },
      h('span', { className: 'field-label' }, field.name),
      control,
    );
  }

  /** A layer's shapes, from the whole model or, when a later layer is invalid, from the valid prefix. */
  private resolvedLayer(index: number): ResolvedLayer | undefined {
    return (this.lastValidation.resolved ?? this.lastValidation.prefix)?.layers[index];
  }

  /**
   * Shapes on every layer that resolved (all of them, or those before the invalid one); the
   * invalid layer shows the shape it receives and its error, at the field it names; the layers
   * after it show no shape (they cannot be known).
   */
  showValidation(validation: Validation): void {
    this.lastValidation = validation;
    const error = validation.error as (SpecError & { layerIndex?: number; field?: string }) | undefined;
    const errorIndex = error && typeof error.layerIndex === 'number' ? error.layerIndex : undefined;
    const inputShape = validation.prefix?.outputShape;
    this.list.querySelectorAll<HTMLLIElement>('.layer-card').forEach((card) => {
      const index = Number(card.dataset.index);
      const layer = this.resolvedLayer(index);
      const shape = card.querySelector<HTMLElement>('.layer-shape')!;
      if (layer) shape.textContent = `${formatShape(layer.inShape)} → ${formatShape(layer.outShape)}`;
      else if (index === errorIndex && inputShape) shape.textContent = `${formatShape(inputShape)} → invalid`;
      else if (index === errorIndex) shape.textContent = 'invalid';
      else shape.textContent = errorIndex !== undefined && index > errorIndex ? 'shape unknown (an earlier layer is invalid)' : '';
      shape.classList.toggle('unknown', !layer);
      const message = card.querySelector<HTMLElement>('.layer-error')!;
      const invalid = errorIndex === index;
      card.classList.toggle('invalid', invalid);
      message.hidden = !invalid;
      message.textContent = invalid ? error!.message : '';
      card.querySelectorAll<HTMLElement>('[data-field]').forEach((control) => {
        const bad = invalid && error!.field !== undefined && control.dataset.field === error!.field;
        control.classList.toggle('invalid', bad);
        control.setAttribute('aria-invalid', bad ? 'true' : 'false');
      });
    });
  }
}
