/**
 * The feature map view: for each step of a run (the depthwise and the pointwise halves of a
 * separable block are separate steps), a grid with one tile per channel (drawn as one canvas per
 * step: see colorizeGrid); click (or Enter) to
 * enlarge, the value under the pointer, PNG export.
 */
import type { RunResult, WireFeatureMap } from '../src/shared/protocol';
import { formatShape } from '../src/shared/format';
import { colorize, colorizeGrid, colormapLut, gridLayout, tileOrigin, valueRange, type ColormapName, type Range } from './colormap';
import { clear, h, icon } from './dom';

export type MapNormalisation = 'channel' | 'shared';

/** Channels drawn per step before "show all" (the first three MobileNetV1 blocks have at most 128). */
export const DEFAULT_CHANNEL_CAP = 128;

export interface FeatureMapOptions {
  colormap: ColormapName;
  normalisation: MapNormalisation;
  save(name: string, png: ArrayBuffer): void;
}

interface Step {
  map: WireFeatureMap;
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
  shared: Range;
  ms?: number;
}

export class FeatureMapView {
  private steps: Step[] = [];
  private expanded = new Set<string>();
  private readonly dialog: HTMLDialogElement;
  private readonly readout: HTMLElement;

  constructor(private readonly root: HTMLElement, private options: FeatureMapOptions) {
    this.readout = h('div', { className: 'readout', 'aria-live': 'polite', id: 'value-readout' }, 'Point at a feature map to read its values.');
    this.dialog = h('dialog', { className: 'enlarge', 'aria-label': 'Enlarged feature map' });
    root.append(this.readout, h('div', { className: 'maps' }), this.dialog);
  }

  setOptions(options: Partial<FeatureMapOptions>): void {
    this.options = { ...this.options, ...options };
    this.draw();
  }

  /** Takes a run's feature maps (keeps them for re-colouring) and draws them. */
  show(result: RunResult): void {
    const timing = new Map(result.timings.map((t) => [t.key, t.ms]));
    this.steps = result.featureMaps
      .filter((map) => map.shape.length === 4)
      .map((map) => {
        const data = new Float32Array(map.data);
        return { map, data, channels: map.shape[1]!, height: map.shape[2]!, width: map.shape[3]!, shared: valueRange(data, 0, map.shape[1]! * map.shape[2]! * map.shape[3]!), ms: timing.get(map.key) };
      });
    this.draw();
  }

  clear(): void {
    this.steps = [];
    this.draw();
  }

  /** Redraws every grid (colormap or normalisation changed, or a new run). */
  draw(): void {
    const container = this.root.querySelector('.maps')!;
    clear(container);
    if (this.steps.length === 0) {
      container.appendChild(h('p', { className: 'empty' }, 'Run the model to see what each layer makes of the input.'));
      return;
    }
    const lut = colormapLut(this.options.colormap);
    const available = (this.root.clientWidth || 800) - 4; // read once: each read after a DOM change forces a layout
    for (const step of this.steps) container.appendChild(this.stepSection(step, lut, available));
  }

  private stepSection(step: Step, lut: Uint8Array, available: number): HTMLElement {
    const { map, channels, height, width } = step;
    const cap = this.expanded.has(map.key) ? channels : Math.min(channels, DEFAULT_CHANNEL_CAP);
    const thumb = thumbSize(height, width);
    const layout = gridLayout(cap, width, height, Math.max(1, Math.floor(available / (thumb + 3))));
    const plane = height * width;
    const ranges = this.options.normalisation === 'shared' ? () => step.shared : (c: number) => valueRange(step.data, c * plane, plane);
    const image = new ImageData(layout.width, layout.height);
    colorizeGrid(step.data, cap, layout, ranges, lut, image.data);
    const canvas = h('canvas', {
      width: layout.width,
      height: layout.height,
      className: 'map-grid',
      tabindex: 0,
      'data-key': map.key,
      'data-channels': cap,
      'data-columns': layout.columns,
      'data-gap': layout.gap,
      'aria-label': `${map.label}: ${cap} channels. Arrow keys choose a channel, Enter enlarges it.`,
    });
    canvas.style.width = `${Math.min(available, layout.columns * (thumb + 3))}px`;
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    const focus = h('div', { className: 'tile-focus', hidden: true });
    const wrap = h('div', { className: 'map-wrap' }, canvas, focus);
    let selected = 0;
    const channelAt = (event: MouseEvent): { c: number; x: number; y: number } | undefined => {
      const rect = canvas.getBoundingClientRect();
      const px = ((event.clientX - rect.left) / rect.width) * layout.width;
      const py = ((event.clientY - rect.top) / rect.height) * layout.height;
      const column = Math.floor(px / (width + layout.gap));
      const row = Math.floor(py / (height + layout.gap));
      const x = Math.floor(px - column * (width + layout.gap));
      const y = Math.floor(py - row * (height + layout.gap));
      const c = row * layout.columns + column;
      if (column >= layout.columns || c >= cap || x >= width || y >= height || x < 0 || y < 0) return undefined;
      return { c, x, y };
    };
    const showFocus = () => {
      const rect = canvas.getBoundingClientRect();
      const scale = rect.width / layout.width;
      const [x0, y0] = tileOrigin(layout, selected);
      focus.hidden = false;
      focus.style.left = `${x0 * scale}px`;
      focus.style.top = `${y0 * scale}px`;
      focus.style.width = `${width * scale}px`;
      focus.style.height = `${height * scale}px`;
      this.readout.textContent = `#${map.layerIndex} ${map.label} · channel ${selected} (Enter to enlarge)`;
    };
    canvas.addEventListener('pointermove', (event) => {
      const hit = channelAt(event);
      if (hit) this.readValue(step, hit.c, hit.x, hit.y);
    });
    canvas.addEventListener('click', (event) => {
      const hit = channelAt(event);
      if (hit) this.enlarge(step, hit.c);
    });
    canvas.addEventListener('focus', showFocus);
    canvas.addEventListener('blur', () => (focus.hidden = true));
    canvas.addEventListener('keydown', (event) => {
      const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: layout.columns, ArrowUp: -layout.columns, Home: -cap, End: cap };
      if (event.key in moves) {
        event.preventDefault();
        selected = Math.min(cap - 1, Math.max(0, selected + moves[event.key]!));
        showFocus();
      } else if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.enlarge(step, selected);
      }
    });
    const more =
      cap < channels
        ? h('button', { type: 'button', className: 'link-button', onclick: () => { this.expanded.add(map.key); this.draw(); } }, `Show all ${channels} channels`)
        : undefined;
    return h(
      'section',
      { className: `step role-${map.role}`, 'data-key': map.key },
      h(
        'header',
        { className: 'step-head' },
        h('span', { className: `badge role-${map.role}` }, map.role),
        h('span', { className: 'step-label' }, `#${map.layerIndex} ${map.label}`),
        h('span', { className: 'muted' }, formatShape(map.shape)),
        step.ms !== undefined ? h('span', { className: 'muted' }, `${step.ms.toFixed(2)} ms`) : undefined,
        this.options.normalisation === 'shared' ? h('span', { className: 'muted' }, `range ${fmt(step.shared.min)} … ${fmt(step.shared.max)}`) : undefined,
        h('button', { type: 'button', className: 'icon-button', title: 'Export this grid as PNG', 'aria-label': `Export ${map.label} as PNG`, onclick: () => this.exportGrid(step) }, icon('desktop-download')),
      ),
      wrap,
      more,
    );
  }

  private readValue(step: Step, channel: number, x: number, y: number): void {
    const value = step.data[channel * step.height * step.width + y * step.width + x]!;
    this.readout.textContent = `#${step.map.layerIndex} ${step.map.label} · channel ${channel} · (x ${x}, y ${y}) = ${value.toPrecision(5)}`;
  }

  private read(step: Step, channel: number, canvas: HTMLCanvasElement, event: PointerEvent): void {
    const rect = canvas.getBoundingClientRect();
    const x = Math.min(step.width - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * step.width)));
    const y = Math.min(step.height - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * step.height)));
    this.readValue(step, channel, x, y);
  }

  private enlarge(step: Step, channel: number): void {
    const { width, height } = step;
    const plane = width * height;
    const canvas = h('canvas', { width, height, className: 'enlarged', tabindex: 0 });
    const image = new ImageData(width, height);
    const range = this.options.normalisation === 'shared' ? step.shared : valueRange(step.data, channel * plane, plane);
    colorize(step.data, channel * plane, plane, range, colormapLut(this.options.colormap), image.data);
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    const readout = h('div', { className: 'readout', 'aria-live': 'polite' }, `range ${fmt(range.min)} … ${fmt(range.max)}`);
    canvas.addEventListener('pointermove', (event) => {
      this.read(step, channel, canvas, event);
      readout.textContent = this.readout.textContent;
    });
    clear(this.dialog);
    this.dialog.append(
      h(
        'header',
        { className: 'step-head' },
        h('strong', {}, `#${step.map.layerIndex} ${step.map.label} · channel ${channel} of ${step.channels}`),
        h('button', { type: 'button', onclick: () => void this.savePng(`${safeName(step.map.key)}_ch${channel}.png`, canvas) }, icon('desktop-download'), ' PNG'),
        h('button', { type: 'button', onclick: () => this.dialog.close(), 'aria-label': 'Close' }, icon('close')),
      ),
      canvas,
      readout,
      h(
        'div',
        { className: 'row' },
        h('button', { type: 'button', disabled: channel === 0, onclick: () => this.enlarge(step, channel - 1) }, icon('chevron-left'), ' Previous channel'),
        h('button', { type: 'button', disabled: channel === step.channels - 1, onclick: () => this.enlarge(step, channel + 1) }, 'Next channel ', icon('chevron-right')),
      ),
    );
    if (!this.dialog.open) this.dialog.showModal();
    canvas.focus();
  }

  /** The whole grid (every channel) as one PNG. */
  private exportGrid(step: Step): void {
    const { width, height, channels } = step;
    const layout = gridLayout(channels, width, height, Math.ceil(Math.sqrt(channels)));
    const plane = width * height;
    const image = new ImageData(layout.width, layout.height);
    const ranges = this.options.normalisation === 'shared' ? () => step.shared : (c: number) => valueRange(step.data, c * plane, plane);
    colorizeGrid(step.data, channels, layout, ranges, colormapLut(this.options.colormap), image.data);
    const atlas = h('canvas', { width: layout.width, height: layout.height });
    atlas.getContext('2d')!.putImageData(image, 0, 0);
    void this.savePng(`${safeName(step.map.key)}_${channels}ch.png`, atlas);
  }

  private async savePng(name: string, canvas: HTMLCanvasElement): Promise<void> {
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (blob) this.options.save(name, await blob.arrayBuffer());
  }
}

function thumbSize(height: number, width: number): number {
  const side = Math.max(height, width);
  return side >= 96 ? 96 : side >= 48 ? 72 : 56;
}

function fmt(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(3);
}

function safeName(key: string): string {
  return `layer_${key.replace(/[^a-zA-Z0-9]+/g, '_')}`;
}
