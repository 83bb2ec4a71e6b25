/**
 * The Input section of the playground: the image (a sample, a pattern, the user's own file, kept
 * across reloads), its size and its normalisation, the preview, and the input tensor of a run.
 */
import type { WireTensor } from '../src/shared/protocol';
import { clear, h, icon, labelled, select } from './dom';
import { imageToTensor, makePattern, meanStd, NORMALISATIONS, NORMALISATION_LABELS, PATTERNS, type Normalisation, type RgbaImage } from './patterns';
import { sampleFile, sampleLabel, SAMPLES, type PlaygroundState } from './state';
import { loadStoredImage, storeImage, type StoredImage } from './storedImage';

const MAX_INPUT_SIDE = 1024;

export interface InputPanelOptions {
  state(): PlaygroundState;
  update(patch: Partial<PlaygroundState>): void;
  /** The input size changed: the model's shapes change with it. */
  sizeChanged(): void;
  /** Where the sample images are (the page's `data-samples`). */
  samplesUrl: string;
}

export class InputPanel {
  /** The section's content: the controls, the preview and a note. */
  readonly element: HTMLElement[];
  private userImage: ImageBitmap | undefined;
  /** Settles when the image kept in the saved state is decoded (after a reload). */
  private userImageReady: Promise<void> | undefined;
  /** Whether (and how) the user's image is kept across a reload, for the input note. */
  private userImageNote = '';
  private userImageLabel = '';
  /** Counts the user's image choices (a new file may have an old name). */
  private imageVersion = 0;
  private preparedInput: { key: string; shape: number[]; data: Float32Array } | undefined;
  private readonly sampleCache = new Map<string, ImageBitmap>();
  private readonly preview = h('canvas', { id: 'input-preview', className: 'preview', width: 1, height: 1, 'aria-label': 'The input image' });
  private readonly note = h('p', { className: 'muted', id: 'input-note' });
  private readonly controls = h('div', { className: 'input-controls' });

  constructor(private readonly options: InputPanelOptions) {
    const stored = options.state().userImage;
    if (stored) this.userImageReady = this.restoreUserImage(stored);
    this.element = [this.controls, this.preview, this.note];
    this.setupDrop();
  }

  private get state(): PlaygroundState {
    return this.options.state();
  }

  /** The input as it runs: the spec's channels (input_shape, else the first layer's), the chosen size. */
  shape(): number[] {
    const [height, width] = this.state.inputSize;
    return [1, this.channelsGuess(), height, width];
  }

  private channelsGuess(): number {
    const shape = this.state.model.input_shape;
    if (Array.isArray(shape) && typeof shape[1] === 'number') return shape[1];
    const first = this.state.model.layers?.[0] as unknown as Record<string, unknown> | undefined;
    const value = first?.in_channels ?? first?.num_features;
    return typeof value === 'number' && value > 0 ? value : 3;
  }

  render(): void {
    clear(this.controls);
    const choice = this.state.input;
    const sources: [string, string][] = [
      ...SAMPLES.map((s): [string, string] => [`sample:${s}`, sampleLabel(s)]),
      ...PATTERNS.map((p): [string, string] => [`pattern:${p}`, `Pattern: ${p}`]),
      ...(this.userImage || choice.kind === 'file' ? [[`file:${this.userImageName()}`, `Your image: ${this.userImageName()}`] as [string, string]] : []),
    ];
    const current = `${choice.kind}:${choice.name}`;
    const source = select(sources, current, (value) => {
      const [kind, name] = value.split(':') as [string, string];
      this.options.update({ input: { kind, name } as PlaygroundState['input'] });
      void this.refreshPreview();
    }, { id: 'input-source' });
    // Reached through its label (a focusable button), not by Tab itself: it is invisible.
    const file = h('input', { type: 'file', accept: 'image/png,image/jpeg', id: 'input-file', className: 'visually-hidden', tabindex: -1 });
    file.addEventListener('change', () => {
      const chosen = file.files?.[0];
      if (chosen) void this.useImageFile(chosen);
    });
    const [height, width] = this.state.inputSize;
    const sizeInput = (index: 0 | 1, value: number, label: string) => {
      const input = h('input', { type: 'number', min: 1, max: MAX_INPUT_SIDE, value, id: index === 0 ? 'input-height' : 'input-width', 'aria-label': label });
      input.addEventListener('change', () => {
        const n = Math.round(Number(input.value));
        if (!(n >= 1 && n <= MAX_INPUT_SIDE)) {
          input.value = String(this.state.inputSize[index]);
          this.note.textContent = `The input side must be 1 to ${MAX_INPUT_SIDE} pixels.`;
          return;
        }
        const size: [number, number] = [...this.state.inputSize];
        size[index] = n;
        this.options.update({ inputSize: size });
        this.options.sizeChanged();
        void this.refreshPreview();
      });
      return input;
    };
    this.controls.append(
      labelled('Source', source),
      h('div', { className: 'row' }, h('label', { className: 'button', for: 'input-file', tabindex: 0, role: 'button', id: 'choose-image', onkeydown: (e: Event) => { if ((e as KeyboardEvent).key === 'Enter' || (e as KeyboardEvent).key === ' ') { e.preventDefault(); file.click(); } } }, icon('file-media'), ' Open PNG/JPEG…'), file, h('span', { className: 'muted' }, 'or drop an image on the panel')),
      h('div', { className: 'row' }, labelled('Height', sizeInput(0, height, 'Input height')), labelled('Width', sizeInput(1, width, 'Input width'))),
      labelled('Normalisation', select<Normalisation>(NORMALISATIONS.map((n): [Normalisation, string] => [n, NORMALISATION_LABELS[n]]), this.state.normalisation, (normalisation) => {
        this.options.update({ normalisation });
        this.render();
      }, { id: 'normalisation' })),
    );
    if (this.state.normalisation === 'custom') this.controls.append(this.meanStdFields());
  }

  /** The user's mean and std per colour, on [0, 1] values (a std must be positive). */
  private meanStdFields(): HTMLElement {
    const field = (which: 'customMean' | 'customStd', colour: 0 | 1 | 2) => {
      const name = `${which === 'customMean' ? 'mean' : 'std'}-${'rgb'[colour]}`;
      const input = h('input', { type: 'number', step: 0.001, value: this.state[which][colour], id: `input-${name}`, 'aria-label': `${which === 'customMean' ? 'Mean' : 'Std'} of ${['red', 'green', 'blue'][colour]}` });
      input.addEventListener('change', () => {
        const value = Number(input.value);
        if (!Number.isFinite(value) || (which === 'customStd' && !(value > 0)) || input.value.trim() === '') {
          input.value = String(this.state[which][colour]);
          this.note.textContent = which === 'customStd' ? 'A std must be a number above 0.' : 'A mean must be a number.';
          return;
        }
        const values: [number, number, number] = [...this.state[which]];
        values[colour] = value;
        this.options.update({ [which]: values });
      });
      return input;
    };
    return h(
      'div',
      { className: 'mean-std' },
      h('div', { className: 'row' }, h('span', { className: 'field-label' }, 'Mean R, G, B'), field('customMean', 0), field('customMean', 1), field('customMean', 2)),
      h('div', { className: 'row' }, h('span', { className: 'field-label' }, 'Std R, G, B'), field('customStd', 0), field('customStd', 1), field('customStd', 2)),
      h('p', { className: 'muted' }, 'On pixel values in [0, 1]: (value - mean) / std.'),
    );
  }

  private setupDrop(): void {
    document.addEventListener('dragover', (event) => {
      event.preventDefault();
      document.body.classList.add('dragging');
    });
    document.addEventListener('dragleave', (event) => {
      if (event.relatedTarget === null) document.body.classList.remove('dragging');
    });
    document.addEventListener('drop', (event) => {
      event.preventDefault();
      document.body.classList.remove('dragging');
      const file = [...(event.dataTransfer?.files ?? [])].find((f) => /^image\/(png|jpeg)$/.test(f.type) || /\.(png|jpe?g)$/i.test(f.name));
      if (file) void this.useImageFile(file);
      else this.note.textContent = 'Drop a PNG or JPEG image.';
    });
  }

  private async useImageFile(file: File): Promise<void> {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      this.note.textContent = `${file.name} could not be decoded as an image.`;
      return;
    }
    const name = file.name.replace(/:/g, '_');
    this.userImage = bitmap;
    this.userImageLabel = name;
    this.imageVersion++;
    const stored = await storeImage(bitmap, name).catch((error: Error) => ({ reason: error.message }));
    if ('reason' in stored) {
      this.userImageNote = `Not kept across a reload (${stored.reason}): open it again after reloading.`;
      this.options.update({ input: { kind: 'file', name }, userImage: undefined });
    } else {
      const smaller = stored.width < bitmap.width || stored.height < bitmap.height;
      this.userImageNote = smaller ? `Kept across reloads as a ${stored.width}x${stored.height} copy.` : 'Kept across reloads.';
      this.options.update({ input: { kind: 'file', name }, userImage: stored });
    }
    this.render();
    await this.refreshPreview();
  }

  private userImageName(): string {
    return this.state.input.kind === 'file' ? this.state.input.name : this.userImageLabel;
  }

  /** Decodes the copy of the user's image kept in the saved state. */
  private async restoreUserImage(stored: StoredImage): Promise<void> {
    try {
      this.userImage = await loadStoredImage(stored);
      this.userImageLabel = stored.name;
      this.imageVersion++;
      const smaller = stored.width < stored.originalWidth || stored.height < stored.originalHeight;
      this.userImageNote = smaller ? `Restored from the ${stored.width}x${stored.height} copy kept with the panel (the image was ${stored.originalWidth}x${stored.originalHeight}).` : 'Restored from the copy kept with the panel.';
    } catch (error) {
      this.userImageNote = '';
      this.options.update({ input: { kind: 'sample', name: SAMPLES[0] }, userImage: undefined });
      this.note.textContent = `Your image could not be restored (${(error as Error).message}); using a sample.`;
    }
    this.render();
  }

  private async sourceImage(): Promise<ImageBitmap | RgbaImage> {
    const [height, width] = this.state.inputSize;
    const choice = this.state.input;
    if (choice.kind === 'pattern') return makePattern(choice.name, width, height);
    if (choice.kind === 'file') await this.userImageReady;
    if (choice.kind === 'file' && this.userImage) return this.userImage;
    const name = choice.kind === 'sample' ? choice.name : 'shapes';
    let bitmap = this.sampleCache.get(name);
    if (!bitmap) {
      const response = await fetch(`${this.options.samplesUrl}${sampleFile(name)}`);
      if (!response.ok) throw new Error(`sample ${name} could not be loaded (${response.status})`);
      bitmap = await createImageBitmap(await response.blob());
      this.sampleCache.set(name, bitmap);
    }
    return bitmap;
  }

  /**
   * The input tensor of a run: made from the image once per input choice, size and normalisation,
   * then copied for each run (the copy is transferred to the engine).
   */
  async tensor(): Promise<WireTensor> {
    const shape = this.shape();
    const normalisation = meanStd(this.state.normalisation, { mean: this.state.customMean, std: this.state.customStd });
    const key = JSON.stringify([this.state.input, this.imageVersion, shape, normalisation]);
    if (this.preparedInput?.key !== key) {
      const tensor = imageToTensor(await this.image(), shape[1]!, normalisation);
      this.preparedInput = { key, shape: tensor.shape, data: tensor.data };
    }
    return { shape: this.preparedInput.shape, data: this.preparedInput.data.slice().buffer as ArrayBuffer };
  }

  /** The input image at the input size, as RGBA (images are stretched to the size). */
  private async image(): Promise<RgbaImage> {
    const [height, width] = this.state.inputSize;
    const source = await this.sourceImage();
    if (!(source instanceof ImageBitmap)) return source;
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    context.imageSmoothingQuality = 'high';
    context.drawImage(source, 0, 0, width, height);
    const data = context.getImageData(0, 0, width, height).data;
    return { width, height, data };
  }

  async refreshPreview(): Promise<void> {
    try {
      const image = await this.image();
      this.preview.width = image.width;
      this.preview.height = image.height;
      this.preview.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
      const channels = this.shape()[1]!;
      const described =
        channels === 3 ? `${image.width}x${image.height} RGB` : channels === 1 ? `${image.width}x${image.height}, luminance` : `${image.width}x${image.height}; the model takes ${channels} channels: R, G, B repeated`;
      this.note.textContent = this.state.input.kind === 'file' && this.userImageNote ? `${described}. ${this.userImageNote}` : described;
    } catch (error) {
      this.note.textContent = (error as Error).message;
    }
  }
}
