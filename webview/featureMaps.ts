/**
 * The feature map view: for each step of a run (the depthwise and the pointwise halves of a
 * separable block are separate steps), a grid with one tile per channel, drawn as one canvas per
 * step. After a run the grids arrive painted by the engine worker (mapImages.ts) as ImageBitmaps
 * and are shown as they come, step by step; a change of colormap or normalisation repaints here.
 * Click (or Enter) to enlarge, the value under the pointer, PNG export.
 */
import type { RunResult, WireFeatureMap } from '../src/shared/protocol';
import { formatShape } from '../src/shared/format';
import { colorize, colorizeGrid, colormapLut, tileOrigin, type ColormapName, type Range } from './colormap';
import { clear, h, icon } from './dom';
import { channelRanges, MAX_GRID_PIXELS, paintGrid, rangeOf, sharedRange, stepGrid, THUMB_GAP_PX, thumbSize, type MapNormalisation, type PaintRequest, type StepGrid } from './mapImages';
import type { StepPicture } from './workerProtocol';

export type { MapNormalisation } from './mapImages';
export { DEFAULT_CHANNEL_CAP } from './mapImages';

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
  /** Per-channel [min, max] pairs. */
  ranges: Float32Array;
  shared: Range;
  /** The worker's painting, used once (on the first draw) when it fits the current options. */
  picture?: StepPicture;
  /** Measured time of the step, ms. */
  ms?: number;
}

export class FeatureMapView {
  private steps: Step[] = [];
  private readonly expanded = new Set<string>();
  private readonly dialog: HTMLDialogElement;
  private readonly readout: HTMLElement;
  private readonly container: HTMLElement;

  constructor(private readonly root: HTMLElement, private options: FeatureMapOptions) {
    this.readout = h('div', { className: 'readout', 'aria-live': 'polite', id: 'value-readout' }, 'Point at a feature map to read its values.');
    this.dialog = h('dialog', { className: 'enlarge', 'aria-label': 'Enlarged feature map' });
    this.container = h('div', { className: 'maps' });
    root.append(this.readout, this.container, this.dialog);
    this.draw();
  }

  setOptions(options: Partial<FeatureMapOptions>): void {
    this.options = { ...this.options, ...options };
    this.draw();
  }

  /** How grids should be painted for this view now (reads the width once: a layout, if one is pending). */
  paintRequest(): PaintRequest {
    return { colormap: this.options.colormap, normalisation: this.options.normalisation, availableWidth: this.availableWidth(), expanded: [...this.expanded] };
  }

  /**
   * Shows a run's feature maps: with the worker's pictures (`pictures[i]` for `result.featureMaps[i]`)
   * where they fit the current options, painted here otherwise. All grids go in within one task, so
   * the page lays out and paints once.
   */
  show(result: Pick<RunResult, 'featureMaps' | 'timings'>, pictures: readonly (StepPicture | undefined)[] = [], available = this.availableWidth()): void {
    const timing = new Map(result.timings.map((t) => [t.key, t.ms]));
    this.steps = [];
    result.featureMaps.forEach((map, i) => {
      if (map.shape.length !== 4) return;
      const picture = pictures[i];
      const data = new Float32Array(map.data);
      const [, channels, height, width] = map.shape as [number, number, number, number];
      const ranges = picture ? new Float32Array(picture.ranges) : channelRanges(data, channels, height * width);
      this.steps.push({ map, data, channels, height, width, ranges, shared: sharedRange(ranges), picture, ms: timing.get(map.key) });
    });
    this.draw(available);
  }

  clear(): void {
    this.steps = [];
    this.draw();
  }

  /** Redraws every grid (colormap or normalisation changed, or "show all"). */
  draw(available = this.availableWidth()): void {
    clear(this.container);
    if (this.steps.length === 0) {
      this.container.appendChild(h('p', { className: 'empty' }, 'Run the model to see what each layer makes of the input.'));
      return;
    }
    for (const step of this.steps) this.container.appendChild(this.stepSection(step, available));
  }

  private availableWidth(): number {
    // Read once per draw: each read after a DOM change forces a layout.
    return (this.root.clientWidth || 800) - 4;
  }

  /** The worker's picture when it was painted for what this view shows now. */
  private takePicture(step: Step): StepPicture | undefined {
    const picture = step.picture;
    step.picture = undefined;
    if (!picture) return undefined;
    const request = picture.request;
    const fits = request.colormap === this.options.colormap && request.normalisation === this.options.normalisation && request.expanded.includes(step.map.key) === this.expanded.has(step.map.key);
    return fits ? picture : undefined;
  }

  private stepSection(step: Step, available: number): HTMLElement {
    const { map, channels, height, width } = step;
    const picture = this.takePicture(step);
    const grid: StepGrid = picture?.grid ?? stepGrid(map.key, map.shape, { availableWidth: available, expanded: [...this.expanded] });
    const { layout, drawn: cap } = grid;
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
    canvas.style.width = `${grid.cssWidth}px`;
    // The worker's pixels when it painted this step for these options (no colouring on this thread), else painted here.
    const pixels = picture ? new Uint8ClampedArray(picture.pixels) : paintGrid(step.data, grid, step.ranges, this.options);
    canvas.getContext('2d')!.putImageData(new ImageData(pixels, layout.width, layout.height), 0, 0);
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
      grid.limitedBy === 'cap'
        ? h('button', { type: 'button', className: 'link-button', onclick: () => { this.expanded.add(map.key); this.draw(); } }, `Show all ${channels} channels`)
        : grid.limitedBy === 'size'
          ? h('p', { className: 'muted' }, `${cap} of ${channels} channels drawn: these maps are large (a grid is kept under ${MAX_GRID_PIXELS / 1024 ** 2} M pixels). Enlarge a channel and use the arrow keys to see the others.`)
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
    const canvas = h('canvas', { width, height, className: 'enlarged', tabindex: 0, 'aria-label': `Channel ${channel}: arrow keys for the previous and next channel, Escape closes` });
    const image = new ImageData(width, height);
    const range = rangeOf(step.ranges, channel, this.options.normalisation, step.shared);
    colorize(step.data, channel * plane, plane, range, colormapLut(this.options.colormap), image.data);
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    const readout = h('div', { className: 'readout', 'aria-live': 'polite' }, `range ${fmt(range.min)} … ${fmt(range.max)}`);
    canvas.addEventListener('pointermove', (event) => {
      this.read(step, channel, canvas, event);
      readout.textContent = this.readout.textContent;
    });
    canvas.addEventListener('keydown', (event) => {
      const next = event.key === 'ArrowRight' ? channel + 1 : event.key === 'ArrowLeft' ? channel - 1 : -1;
      if (next < 0 || next >= step.channels) return;
      event.preventDefault();
      this.enlarge(step, next);
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
    // Every channel, in a square-ish grid, within the same pixel budget as the view.
    const { layout, drawn } = stepGrid(step.map.key, step.map.shape, { availableWidth: Math.ceil(Math.sqrt(channels)) * (thumbSize(height, width) + THUMB_GAP_PX), expanded: [step.map.key] });
    const image = new ImageData(layout.width, layout.height);
    colorizeGrid(step.data, drawn, layout, (c) => rangeOf(step.ranges, c, this.options.normalisation, step.shared), colormapLut(this.options.colormap), image.data);
    const atlas = h('canvas', { width: layout.width, height: layout.height });
    atlas.getContext('2d')!.putImageData(image, 0, 0);
    void this.savePng(`${safeName(step.map.key)}_${drawn}ch.png`, atlas);
  }

  private async savePng(name: string, canvas: HTMLCanvasElement): Promise<void> {
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (blob) this.options.save(name, await blob.arrayBuffer());
  }
}

function fmt(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(2) : value.toFixed(3);
}

function safeName(key: string): string {
  return `layer_${key.replace(/[^a-zA-Z0-9]+/g, '_')}`;
}
