/**
 * The Weights section of the playground: seeded random weights, hand-made filters, a .safetensors
 * file (from the workspace in VS Code, from the browser standalone), or the trained weights of the
 * model file the host opened; and the weights as the page's engine worker gets them.
 */
import { formatBytes } from '../src/shared/format';
import { FILTER_NAMES, type FilterName, type RunWeights } from '../src/shared/protocol';
import { clear, h, labelled, select } from './dom';
import type { Host } from './hostBridge';
import type { PlaygroundState } from './state';
import type { WorkerWeights } from './workerProtocol';

export interface WeightsPanelOptions {
  state(): PlaygroundState;
  update(patch: Partial<PlaygroundState>): void;
  /** The weights changed in a way that may allow or block a run. */
  changed(): void;
  host: Host;
}

export class WeightsPanel {
  /** The section's content. */
  readonly element = h('div', { className: 'weights-controls' });
  /** A .safetensors file opened in the standalone page (not kept across reloads). */
  private userWeights: { name: string; bytes: ArrayBuffer } | undefined;
  /** The loaded model came from a file the host opened, whose trained weights the host keeps. */
  private hostWeights = false;

  constructor(private readonly options: WeightsPanelOptions) {}

  /**
   * A model was loaded: whether its file's trained weights are in the host. The weights the model
   * runs with from now on, when they change: the file's own, or seeded ones instead of a former file's.
   */
  modelLoaded(hostWeights: boolean): RunWeights | undefined {
    this.hostWeights = hostWeights;
    if (hostWeights) return { kind: 'imported' };
    if (this.options.state().weights.kind === 'imported') return { kind: 'seed', seed: 42 };
    return undefined;
  }

  /** Runs from now on take these weights (a model file's, opened in the standalone page) as their .safetensors file. */
  useFileWeights(file: { name: string; bytes: ArrayBuffer }): void {
    this.userWeights = file;
    this.options.update({ weights: { kind: 'safetensors', path: file.name } });
    this.render();
  }

  /** Why the weights cannot run yet ('' when they can). */
  missing(): string {
    const weights = this.options.state().weights;
    if (weights.kind !== 'safetensors') return '';
    if (!weights.path) return 'Choose a .safetensors file for the weights.';
    if (this.options.host.standalone && !this.userWeights) return 'Open the .safetensors file again (files are not kept across reloads).';
    return '';
  }

  render(): void {
    const { host, update } = this.options;
    const controls = this.element;
    clear(controls);
    const weights = this.options.state().weights;
    const kinds: [RunWeights['kind'], string][] = [['seed', 'Seeded random (Kaiming uniform)'], ['filters', 'Hand-made depthwise filters'], ['safetensors', '.safetensors file']];
    if (this.hostWeights) kinds.unshift(['imported', "The model file's trained weights"]);
    const kind = select<RunWeights['kind']>(kinds, weights.kind, (k) => {
      const next: RunWeights = k === 'imported' ? { kind: 'imported' } : k === 'seed' ? { kind: 'seed', seed: 42 } : k === 'filters' ? { kind: 'filters', filter: 'sobel_x', seed: 0 } : { kind: 'safetensors', path: '' };
      update({ weights: next });
      this.render();
    }, { id: 'weights-kind' });
    controls.append(labelled('Weights', kind));
    if (weights.kind === 'seed') {
      const seed = h('input', { type: 'number', min: 0, value: weights.seed, id: 'weights-seed' });
      seed.addEventListener('change', () => update({ weights: { kind: 'seed', seed: Math.max(0, Math.floor(Number(seed.value) || 0)) } }));
      controls.append(labelled('Seed', seed));
    } else if (weights.kind === 'filters') {
      controls.append(labelled('Filter', select<FilterName>(FILTER_NAMES, weights.filter, (filter) => update({ weights: { kind: 'filters', filter, seed: 0 } }), { id: 'weights-filter' }), 'every depthwise channel gets this filter; pointwise convs pass channels through'));
    } else if (weights.kind === 'imported') {
      controls.append(h('p', { className: 'muted' }, 'The weights read from the model file; they stay in the extension host, so runs go to the host (CPU or Host GPU).'));
    } else if (host.standalone) {
      const file = h('input', { type: 'file', accept: '.safetensors', id: 'weights-file' });
      file.addEventListener('change', async () => {
        const chosen = file.files?.[0];
        if (!chosen) return;
        this.userWeights = { name: chosen.name, bytes: await chosen.arrayBuffer() };
        update({ weights: { kind: 'safetensors', path: chosen.name } });
        this.options.changed();
      });
      controls.append(labelled('File', file), h('p', { className: 'muted' }, this.userWeights ? `Loaded ${this.userWeights.name}` : 'PyTorch state_dict names, F32/F16/BF16.'));
    } else {
      const chosenPath = weights.path;
      const list = select<string>([['', 'Choose a file…']], chosenPath, (path) => {
        update({ weights: { kind: 'safetensors', path } });
        this.options.changed();
      }, { id: 'weights-path' });
      const note = h('span', { className: 'muted' }, 'Looking for .safetensors files in the workspace…');
      controls.append(labelled('File', list), note);
      void host.request('listWorkspaceFiles', { extension: '.safetensors' }).then(
        (files) => {
          for (const f of files) list.appendChild(h('option', { value: f.path, selected: f.path === chosenPath }, `${f.path} (${formatBytes(f.bytes)})`));
          note.textContent = files.length ? `${files.length} file(s) found` : 'No .safetensors files in the workspace.';
        },
        (error: Error) => (note.textContent = error.message),
      );
    }
    this.options.changed();
  }

  /** The weights as the page's engine worker gets them: a .safetensors file as its bytes. */
  async forWorker(): Promise<WorkerWeights> {
    const weights = this.options.state().weights;
    if (weights.kind !== 'safetensors') return weights;
    if (this.options.host.standalone) {
      if (!this.userWeights) throw new Error('open the .safetensors file first');
      return { kind: 'safetensors', name: this.userWeights.name, bytes: this.userWeights.bytes.slice(0) };
    }
    const file = await this.options.host.request('readWorkspaceFile', { path: weights.path });
    return { kind: 'safetensors', name: file.path, bytes: file.data };
  }
}
