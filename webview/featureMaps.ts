/**
 * The feature map view: for each step of a run (the depthwise and the pointwise halves of a
 * separable block are separate steps), a grid with one tile per channel, drawn as one canvas per
 * step. After a run the grids arrive painted by the engine worker (mapImages.ts) and are shown as
 * they come; a change of colormap or normalisation repaints here, from the steps' previews (one
 * byte per value). The float32 values are read only when needed: the value under the pointer (an
 * estimate from the preview at once, the exact value when it arrives) and the .npy export; a host
 * run's values stay at the host until then. Click (or Enter) to enlarge, PNG and .npy export.
 */
import type { RunResult } from '../src/shared/protocol';
import { formatShape } from '../src/shared/format';
import { previewBytes, previewValue } from '../src/shared/featurePreview';
import { writeNpy } from '../src/io/npy';
import { colorizePreviewGrid, colormapLut, gridLayout, tileOrigin, type ColormapName, type Range } from './colormap';
import { clear, h, icon } from './dom';
import {
  MAX_GRID_PIXELS,
  paintGrid,
  previewRemap,
  rangeOf,
  sharedRange,
  stepGrid,
  THUMB_GAP_PX,
  thumbSize,
  type MapNormalisation,
  type PaintRequest,
  type StepGrid,
} from './mapImages';
import type { PageFeatureMap, StepPicture } from './workerProtocol';

export type { MapNormalisation } from './mapImages';
export { DEFAULT_CHANNEL_CAP } from './mapImages';

export interface FeatureMapOptions {
  colormap: ColormapName;
  normalisation: MapNormalisation;
  /** Which steps are shown (all when absent); `why` says what the others are left out for. */
  filter?: { shows(map: PageFeatureMap): boolean; why: string };
  save(name: string, bytes: ArrayBuffer): void;
  /** Takes a worker picture's pixel buffer once it is drawn (to be painted into again). */
  recycle?(pixels: ArrayBuffer): void;
}

/** Reads channels [start, end) of a step's output where its values are kept (the host). */
export type ChannelReader = (key: string, start: number, end: number) => Promise<Float32Array>;

interface Step {
  map: PageFeatureMap;
  channels: number;
  height: number;
  width: number;
  /** Per-channel [min, max] pairs. */
  ranges: Float32Array;
  shared: Range;
  /** One byte per value of the first `previewChannels` channels. */
  preview: Uint8Array;
  previewChannels: number;
  /** The values, when the page has them (its own runs). */
  values?: Float32Array;
  /** Channels read from where the values are kept, by channel. */
  fetched: Map<number, Promise<Float32Array>>;
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
  private reader: ChannelReader | undefined;
  /** Counts pointer readings, so that a value arriving late does not overwrite a newer reading. */
  private reading = 0;

  /** Canvases of the grids drawn before, by size, while a draw takes them (see draw()). */
  private spareCanvases = new Map<string, HTMLCanvasElement[]>();
  /** Aborted at each draw: the grids' canvases' listeners go with it (a reused canvas gets new ones). */
  private gridListeners = new AbortController();

  constructor(
    private readonly root: HTMLElement,
    private options: FeatureMapOptions,
  ) {
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
   * the page lays out and paints once. `reader` reads the values of maps that came without them.
   */
  show(
    result: Pick<RunResult, 'timings'> & { featureMaps: readonly PageFeatureMap[] },
    pictures: readonly (StepPicture | undefined)[] = [],
    available = this.availableWidth(),
    reader?: ChannelReader,
  ): void {
    const timing = new Map(result.timings.map((t) => [t.key, t.ms]));
    this.reader = reader;
    this.steps = [];
    result.featureMaps.forEach((map, i) => {
      if (map.shape.length !== 4 || map.previewChannels === 0) return;
      const [, channels, height, width] = map.shape as [number, number, number, number];
      const ranges = new Float32Array(map.ranges);
      this.steps.push({
        map,
        channels,
        height,
        width,
        ranges,
        shared: sharedRange(ranges),
        preview: new Uint8Array(map.preview),
        previewChannels: map.previewChannels,
        values: map.values ? new Float32Array(map.values) : undefined,
        fetched: new Map(),
        picture: pictures[i],
        ms: timing.get(map.key),
      });
    });
    this.draw(available);
    // Steps the user asked to see whole get their other channels after the first drawing.
    const partial = this.steps.filter((step) => this.expanded.has(step.map.key) && step.previewChannels < step.channels);
    if (partial.length > 0)
      void Promise.all(partial.map((step) => this.ensurePreview(step, step.channels))).then(
        () => this.draw(),
        (error: Error) => (this.readout.textContent = error.message),
      );
  }

  /** Channels [start, end) of a step's values, from the page's copy or from where they are kept. */
  private async channelValues(step: Step, start: number, end: number): Promise<Float32Array> {
    const plane = step.height * step.width;
    if (step.values) return step.values.subarray(start * plane, end * plane);
    if (!this.reader) throw new Error('the values of this run are not available');
    if (end - start === 1) {
      let pending = step.fetched.get(start);
      if (!pending) {
        pending = this.reader(step.map.key, start, end);
        step.fetched.set(start, pending);
        pending.catch(() => step.fetched.delete(start));
      }
      return pending;
    }
    return this.reader(step.map.key, start, end);
  }

  /** Makes sure the step has preview bytes for its first `count` channels (reading the values of the missing ones). */
  private async ensurePreview(step: Step, count: number): Promise<void> {
    const have = step.previewChannels;
    if (have >= count) return;
    const plane = step.height * step.width;
    const values = await this.channelValues(step, have, count);
    if (step.previewChannels !== have) return; // filled meanwhile
    const preview = new Uint8Array(count * plane);
    preview.set(step.preview.subarray(0, have * plane));
    preview.set(previewBytes(values, step.ranges, plane, have, count - have, have), have * plane);
    step.preview = preview;
    step.previewChannels = count;
  }

  clear(): void {
    this.steps = [];
    this.draw();
  }

  /** Redraws every grid (colormap or normalisation changed, or "show all"). */
  draw(available = this.availableWidth()): void {
    // The grids' canvases are drawn into again where the new grid has the same size: a new
    // canvas's first drawing sets up its backing memory, which cost more than the drawing.
    this.spareCanvases = new Map();
    for (const canvas of this.container.querySelectorAll<HTMLCanvasElement>('canvas.map-grid')) {
      const size = `${canvas.width}x${canvas.height}`;
      this.spareCanvases.set(size, [...(this.spareCanvases.get(size) ?? []), canvas]);
    }
    this.gridListeners.abort();
    this.gridListeners = new AbortController();
    clear(this.container);
    if (this.steps.length === 0) {
      this.container.appendChild(h('p', { className: 'empty' }, 'Run the model to see what each layer makes of the input.'));
      return;
    }
    const filter = this.options.filter;
    const shown = filter ? this.steps.filter((step) => filter.shows(step.map)) : this.steps;
    if (filter)
      this.container.appendChild(h('p', { className: 'muted maps-filter-note' }, `${shown.length} of ${this.steps.length} steps shown: ${filter.why}.`));
    for (const step of shown) this.container.appendChild(this.stepSection(step, available));
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
    const fits =
      request.colormap === this.options.colormap &&
      request.normalisation === this.options.normalisation &&
      request.expanded.includes(step.map.key) === this.expanded.has(step.map.key);
    return fits ? picture : undefined;
  }

  private stepSection(step: Step, available: number): HTMLElement {
    const { map, channels, height, width } = step;
    const picture = this.takePicture(step);
    const grid: StepGrid = picture?.grid ?? stepGrid(map.key, map.shape, { availableWidth: available, expanded: [...this.expanded] }, step.previewChannels);
    const { layout, drawn: cap } = grid;
    const attributes = {
      'data-key': map.key,
      'data-channels': String(cap),
      'data-columns': String(layout.columns),
      'data-gap': String(layout.gap),
      'aria-label': `${map.label}: ${cap} channels. Arrow keys choose a channel, Enter enlarges it.`,
    };
    const reused = this.spareCanvases.get(`${layout.width}x${layout.height}`)?.pop();
    if (reused) for (const [name, value] of Object.entries(attributes)) reused.setAttribute(name, value);
    const canvas = reused ?? h('canvas', { width: layout.width, height: layout.height, className: 'map-grid', tabindex: 0, ...attributes });
    const listening = { signal: this.gridListeners.signal };
    canvas.style.width = `${grid.cssWidth}px`;
    // The worker's pixels when it painted this step for these options (no colouring on this thread), else painted here.
    const pixels = picture ? new Uint8ClampedArray(picture.pixels) : paintGrid(step.preview, grid, step.ranges, this.options);
    canvas.getContext('2d')!.putImageData(new ImageData(pixels, layout.width, layout.height), 0, 0);
    if (picture) this.options.recycle?.(picture.pixels);
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
    canvas.addEventListener(
      'pointermove',
      (event) => {
        const hit = channelAt(event);
        if (hit) this.readValue(step, hit.c, hit.x, hit.y);
      },
      listening,
    );
    canvas.addEventListener(
      'click',
      (event) => {
        const hit = channelAt(event);
        if (hit) void this.enlarge(step, hit.c);
      },
      listening,
    );
    canvas.addEventListener('focus', showFocus, listening);
    canvas.addEventListener('blur', () => (focus.hidden = true), listening);
    canvas.addEventListener(
      'keydown',
      (event) => {
        const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: layout.columns, ArrowUp: -layout.columns, Home: -cap, End: cap };
        if (event.key in moves) {
          event.preventDefault();
          selected = Math.min(cap - 1, Math.max(0, selected + moves[event.key]!));
          showFocus();
        } else if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          void this.enlarge(step, selected);
        }
      },
      listening,
    );
    const more =
      grid.limitedBy === 'cap'
        ? h('button', { type: 'button', className: 'link-button', onclick: () => void this.showAll(step) }, `Show all ${channels} channels`)
        : grid.limitedBy === 'size'
          ? h(
              'p',
              { className: 'muted' },
              `${cap} of ${channels} channels drawn: these maps are large (a grid is kept under ${MAX_GRID_PIXELS / 1024 ** 2} M pixels). Enlarge a channel and use the arrow keys to see the others.`,
            )
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
        h(
          'button',
          {
            type: 'button',
            className: 'icon-button',
            title: 'Export this grid as PNG',
            'aria-label': `Export ${map.label} as PNG`,
            onclick: () => void this.exportGrid(step),
          },
          icon('desktop-download'),
        ),
        h(
          'button',
          {
            type: 'button',
            className: 'icon-button export-values',
            title: 'Export the values as .npy (float32)',
            'aria-label': `Export the values of ${map.label} as .npy`,
            onclick: () => void this.exportValues(step),
          },
          icon('save'),
        ),
      ),
      wrap,
      more,
    );
  }

  private async showAll(step: Step): Promise<void> {
    try {
      this.readout.textContent = `Reading the other channels of ${step.map.label}…`;
      await this.ensurePreview(step, step.channels);
      this.readout.textContent = '';
    } catch (error) {
      this.readout.textContent = `Could not read the other channels: ${(error as Error).message}`;
      return;
    }
    this.expanded.add(step.map.key);
    this.draw();
  }

  /**
   * The value under the pointer: at once from the preview (to within half a step of the channel's
   * range, marked ≈), then the exact value when it has been read.
   */
  private readValue(step: Step, channel: number, x: number, y: number, echo?: HTMLElement): void {
    const ticket = ++this.reading;
    const plane = step.height * step.width;
    const offset = y * step.width + x;
    const where = `#${step.map.layerIndex} ${step.map.label} · channel ${channel} · (x ${x}, y ${y})`;
    const show = (text: string) => {
      if (ticket !== this.reading) return;
      this.readout.textContent = text;
      if (echo) echo.textContent = text;
    };
    if (step.values) {
      show(`${where} = ${step.values[channel * plane + offset]!.toPrecision(5)}`);
      return;
    }
    if (channel < step.previewChannels) {
      show(`${where} ≈ ${previewValue(step.preview[channel * plane + offset]!, step.ranges[2 * channel]!, step.ranges[2 * channel + 1]!).toPrecision(3)}`);
    }
    this.channelValues(step, channel, channel + 1).then(
      (values) => show(`${where} = ${values[offset]!.toPrecision(5)}`),
      (error: Error) => show(`${where}: ${error.message}`),
    );
  }

  private read(step: Step, channel: number, canvas: HTMLCanvasElement, event: PointerEvent, echo: HTMLElement): void {
    const rect = canvas.getBoundingClientRect();
    const x = Math.min(step.width - 1, Math.max(0, Math.floor(((event.clientX - rect.left) / rect.width) * step.width)));
    const y = Math.min(step.height - 1, Math.max(0, Math.floor(((event.clientY - rect.top) / rect.height) * step.height)));
    this.readValue(step, channel, x, y, echo);
  }

  /** A channel's preview bytes (read and made here when the run sent none for it). */
  private async channelPreview(step: Step, channel: number): Promise<Uint8Array> {
    const plane = step.height * step.width;
    if (channel < step.previewChannels) return step.preview.subarray(channel * plane, (channel + 1) * plane);
    return previewBytes(await this.channelValues(step, channel, channel + 1), step.ranges, plane, channel, 1, channel);
  }

  private async enlarge(step: Step, channel: number): Promise<void> {
    const { width, height } = step;
    let bytes: Uint8Array;
    try {
      bytes = await this.channelPreview(step, channel);
    } catch (error) {
      this.readout.textContent = `Could not read channel ${channel}: ${(error as Error).message}`;
      return;
    }
    const canvas = h('canvas', {
      width,
      height,
      className: 'enlarged',
      tabindex: 0,
      'aria-label': `Channel ${channel}: arrow keys for the previous and next channel, Escape closes`,
    });
    const image = new ImageData(width, height);
    const range = rangeOf(step.ranges, channel, this.options.normalisation, step.shared);
    colorizePreviewGrid(
      bytes,
      1,
      gridLayout(1, width, height, 1),
      () => previewRemap(step.ranges, channel, this.options.normalisation, step.shared),
      colormapLut(this.options.colormap),
      image.data,
    );
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    const readout = h('div', { className: 'readout', 'aria-live': 'polite' }, `range ${fmt(range.min)} … ${fmt(range.max)}`);
    canvas.addEventListener('pointermove', (event) => this.read(step, channel, canvas, event, readout));
    canvas.addEventListener('keydown', (event) => {
      const next = event.key === 'ArrowRight' ? channel + 1 : event.key === 'ArrowLeft' ? channel - 1 : -1;
      if (next < 0 || next >= step.channels) return;
      event.preventDefault();
      void this.enlarge(step, next);
    });
    clear(this.dialog);
    this.dialog.append(
      h(
        'header',
        { className: 'step-head' },
        h('strong', {}, `#${step.map.layerIndex} ${step.map.label} · channel ${channel} of ${step.channels}`),
        h(
          'button',
          { type: 'button', onclick: () => void this.savePng(`${safeName(step.map.key)}_ch${channel}.png`, canvas) },
          icon('desktop-download'),
          ' PNG',
        ),
        h('button', { type: 'button', onclick: () => this.dialog.close(), 'aria-label': 'Close' }, icon('close')),
      ),
      canvas,
      readout,
      h(
        'div',
        { className: 'row' },
        h(
          'button',
          { type: 'button', disabled: channel === 0, onclick: () => void this.enlarge(step, channel - 1) },
          icon('chevron-left'),
          ' Previous channel',
        ),
        h(
          'button',
          { type: 'button', disabled: channel === step.channels - 1, onclick: () => void this.enlarge(step, channel + 1) },
          'Next channel ',
          icon('chevron-right'),
        ),
      ),
    );
    if (!this.dialog.open) this.dialog.showModal();
    canvas.focus();
  }

  /** The whole grid (every channel) as one PNG. */
  private async exportGrid(step: Step): Promise<void> {
    const { height, channels } = step;
    try {
      await this.ensurePreview(step, channels);
    } catch (error) {
      this.readout.textContent = `Could not read the other channels: ${(error as Error).message}`;
      return;
    }
    // Every channel, in a square-ish grid, within the same pixel budget as the view.
    const grid = stepGrid(step.map.key, step.map.shape, {
      availableWidth: Math.ceil(Math.sqrt(channels)) * (thumbSize(height, step.width) + THUMB_GAP_PX),
      expanded: [step.map.key],
    });
    const pixels = paintGrid(step.preview, grid, step.ranges, this.options);
    const atlas = h('canvas', { width: grid.layout.width, height: grid.layout.height });
    atlas.getContext('2d')!.putImageData(new ImageData(pixels, grid.layout.width, grid.layout.height), 0, 0);
    void this.savePng(`${safeName(step.map.key)}_${grid.drawn}ch.png`, atlas);
  }

  /** The step's values, float32, as a NumPy .npy file of its shape. */
  private async exportValues(step: Step): Promise<void> {
    try {
      const values = await this.channelValues(step, 0, step.channels);
      const bytes = writeNpy({ shape: step.map.shape, data: values });
      this.options.save(`${safeName(step.map.key)}.npy`, bytes.slice().buffer);
    } catch (error) {
      this.readout.textContent = `Could not read the values of ${step.map.label}: ${(error as Error).message}`;
    }
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
