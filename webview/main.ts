/**
 * The playground page: lays out the model, input and weights sections and the views, and runs
 * the model where the backend router sends it. The same bundle runs in the VS Code webview and in
 * the standalone page.
 */
import { costModel, withCountedParams, type ModelCost } from '../src/shared/cost';
import { isCompressedRunResult, unpackRunResult, type CompressedRunResult, type PackedRunResult } from '../src/shared/packedMaps';
import { listPresets, getPreset } from '../src/shared/presets';
import type { HostGpuInfo, LoadModelOptions, RunResult, WireFeatureMap } from '../src/shared/protocol';
import { resolveModel, SpecError, type ModelSpec, type ResolvedModel } from '../src/shared/spec';
import { COLORMAPS, type ColormapName } from './colormap';
import type { PaintRequest } from './mapImages';
import { CostView } from './costView';
import { clear, h, icon, labelled, select } from './dom';
import { EngineClient } from './engineClient';
import { ExportView } from './exportView';
import { HostInputs } from './heldInput';
import { DEFAULT_CHANNEL_CAP, FeatureMapView, type ChannelReader, type MapNormalisation } from './featureMaps';
import { connectHost, RequestCancelled, type Host } from './hostBridge';
import { LayerEditor, type Validation } from './layerEditor';
import { checkCountedParams, restoreState, type BackendChoice, type MapSteps, type ModelView, type PlaygroundState, type Tab } from './state';
import { BlockList } from './blockList';
import { modelFileControl, type PageModelFile } from './modelFile';
import { backendChoices, routeKey, routeRun, type Route, type RouteKey } from './backendRouter';
import { isConvStep, stepInBlocks } from './blockTree';
import { applyTheme, initialTheme, STANDALONE_THEMES, THEME_LABELS, type StandaloneTheme } from './standaloneTheme';
import type { PageRunResult, StepPicture, WebGpuProbe } from './workerProtocol';
import { InputPanel } from './inputPanel';
import { WeightsPanel } from './weightsPanel';

class Playground {
  private state: PlaygroundState;
  private validation: Validation = {};
  private cost: ModelCost | undefined;
  private lastRun: { result: RunResult; modelJson: string } | undefined;
  private running: AbortController | undefined;
  private webgpu: WebGpuProbe | undefined;
  /** The host is on another machine (set by the host's init). */
  private remote = false;
  /** Run -> last map drawn of the current model on each route, ms: what Auto chooses by. */
  private measuredRoutes: Partial<Record<RouteKey, number>> = {};
  private hostGpu: HostGpuInfo | undefined;
  private readonly engine: EngineClient;
  /** The inputs the host holds from this page's runs. */
  private readonly hostInputs = new HostInputs();

  private readonly editor: LayerEditor;
  private readonly blocks: BlockList;
  private readonly editorRoot = h('div', { className: 'editor' });
  private readonly blocksRoot = h('div', { className: 'blocks', id: 'model-blocks' });
  private readonly maps: FeatureMapView;
  private readonly costs: CostView;
  private readonly exports: ExportView;
  private readonly runButton = h('button', { type: 'button', id: 'run', className: 'primary' }, icon('play'), ' Run');
  private readonly cancelButton = h('button', { type: 'button', id: 'cancel', hidden: true }, icon('debug-stop'), ' Cancel');
  private readonly runReason = h('span', { id: 'run-reason', className: 'run-reason', role: 'status' });
  private readonly progress = h('progress', { id: 'run-progress', max: 1, value: 0, hidden: true });
  private readonly status = h('span', { id: 'run-status', className: 'muted', role: 'status', 'aria-live': 'polite' });
  private readonly modelError = h('div', { className: 'model-error', role: 'alert', hidden: true });
  private readonly jsonArea = h('textarea', { id: 'spec-json', className: 'json', rows: 12, spellcheck: 'false', 'aria-label': 'Model spec as JSON' });
  private readonly jsonMessage = h('span', { className: 'muted', role: 'status' });
  private readonly backendSelect: HTMLSelectElement;
  private readonly mapStepsSelect: HTMLSelectElement;
  private readonly input: InputPanel;
  private readonly weights: WeightsPanel;
  private readonly panels: Record<Tab, HTMLElement>;

  constructor(
    root: HTMLElement,
    private readonly host: Host,
  ) {
    this.state = restoreState(host.getState());
    this.input = new InputPanel({
      state: () => this.state,
      update: (patch) => this.update(patch),
      sizeChanged: () => this.modelChanged(false),
      samplesUrl: root.dataset.samples ?? '',
    });
    this.weights = new WeightsPanel({ state: () => this.state, update: (patch) => this.update(patch), changed: () => this.refreshRunButton(), host });
    this.engine = new EngineClient(root.dataset.worker!);
    clear(root);

    this.backendSelect = select<BackendChoice>(this.backendChoices(), this.state.backend, (backend) => this.update({ backend }), {
      id: 'backend',
      'aria-label': 'Backend',
    });
    this.runButton.addEventListener('click', () => void this.run());
    this.cancelButton.addEventListener('click', () => this.running?.abort());

    const presetSelect = select(
      listPresets().map((p): [string, string] => [p.name, p.name]),
      'mobilenet_v1_first3',
      () => undefined,
      { id: 'preset', 'aria-label': 'Preset' },
    );
    const presetHint = h('span', { className: 'muted preset-hint' });
    const describePreset = () => (presetHint.textContent = listPresets().find((p) => p.name === presetSelect.value)?.description ?? '');
    presetSelect.addEventListener('change', describePreset);
    describePreset();

    this.editor = new LayerEditor(this.editorRoot, { model: () => this.state.model, changed: (structural) => this.modelChanged(structural) });
    this.blocks = new BlockList(this.blocksRoot, {
      chosen: () => this.state.chosenBlocks,
      choose: (chosenBlocks) => {
        this.update({ chosenBlocks, mapSteps: chosenBlocks.length ? 'chosen' : this.state.mapSteps === 'chosen' ? 'all' : this.state.mapSteps });
        this.mapStepsSelect.value = this.state.mapSteps;
        this.maps.setOptions({ filter: this.mapFilter() });
      },
    });
    const modelViewSelect = select<ModelView>(
      [
        ['editor', 'Edit layers'],
        ['blocks', 'Blocks'],
      ],
      this.state.modelView,
      (modelView) => {
        this.update({ modelView });
        this.showModelView();
      },
      { id: 'model-view' },
    );

    const mapsRoot = h('div', { className: 'maps-view' });
    const costsRoot = h('div', { className: 'costs-view' });
    const exportRoot = h('div', { className: 'export-view' });
    this.panels = { maps: mapsRoot, costs: costsRoot, export: exportRoot };
    this.mapStepsSelect = select<MapSteps>(
      [
        ['all', 'every step'],
        ['convs', 'every conv'],
        ['chosen', 'blocks chosen in the list'],
      ],
      this.state.mapSteps,
      (mapSteps) => {
        this.update({ mapSteps });
        if (mapSteps === 'chosen' && this.state.modelView !== 'blocks') {
          this.update({ modelView: 'blocks' });
          this.showModelView();
        }
        this.maps.setOptions({ filter: this.mapFilter() });
      },
      { id: 'map-steps' },
    );
    this.maps = new FeatureMapView(mapsRoot, {
      colormap: this.state.colormap,
      normalisation: this.state.mapNormalisation,
      filter: this.mapFilter(),
      save: (name, bytes) => void this.save(name, bytes),
      recycle: (pixels) => this.engine.recycle(pixels),
    });
    this.costs = new CostView(costsRoot, this.costSettings(), (settings) => this.update(settings));
    this.exports = new ExportView(exportRoot, { save: (name, text) => void this.save(name, text), copy: (text) => void this.copy(text) });

    const mapControls = h(
      'div',
      { className: 'row controls' },
      labelled(
        'Colormap',
        select(
          COLORMAPS,
          this.state.colormap,
          (colormap: ColormapName) => {
            this.update({ colormap });
            this.maps.setOptions({ colormap });
          },
          { id: 'colormap' },
        ),
      ),
      labelled(
        'Normalise',
        select<MapNormalisation>(
          [
            ['channel', 'per channel'],
            ['shared', 'shared by the layer'],
          ],
          this.state.mapNormalisation,
          (mapNormalisation) => {
            this.update({ mapNormalisation });
            this.maps.setOptions({ normalisation: mapNormalisation });
          },
          { id: 'map-normalisation' },
        ),
      ),
      labelled('Show', this.mapStepsSelect),
    );
    mapsRoot.prepend(mapControls);

    root.append(
      // The layer editor has dozens of fields: a keyboard user can jump past them to the results.
      h(
        'a',
        {
          href: '#results',
          className: 'skip-link',
          id: 'skip-to-results',
          onclick: (event: Event) => {
            event.preventDefault();
            document.getElementById('results')?.focus();
          },
        },
        'Skip to the feature maps',
      ),
      h(
        'header',
        { className: 'toolbar' },
        h('h1', {}, 'SepConv Playground'),
        labelled('Backend', this.backendSelect),
        this.runButton,
        this.cancelButton,
        this.progress,
        this.runReason,
        this.status,
        host.standalone ? this.themeSwitch() : undefined,
      ),
      h(
        'div',
        { className: 'columns' },
        h(
          'aside',
          { className: 'side' },
          h(
            'section',
            { 'aria-labelledby': 'model-heading' },
            h('h2', { id: 'model-heading' }, 'Model'),
            h(
              'div',
              { className: 'row' },
              presetSelect,
              h('button', { type: 'button', id: 'load-preset', onclick: () => this.loadModel(getPreset(presetSelect.value)!) }, 'Load preset'),
            ),
            presetHint,
            // In VS Code, model files open from the explorer and the host keeps their weights.
            this.host.standalone
              ? modelFileControl(
                  (bytes, name) => this.engine.importModel(bytes, name),
                  (model) => this.openModelFile(model),
                )
              : undefined,
            labelled('View', modelViewSelect),
            this.modelError,
            this.editorRoot,
            this.blocksRoot,
            h(
              'details',
              { className: 'json-details' },
              h('summary', {}, 'Spec as JSON'),
              this.jsonArea,
              h(
                'div',
                { className: 'row' },
                h('button', { type: 'button', id: 'apply-json', onclick: () => this.applyJson() }, 'Apply JSON'),
                h('button', { type: 'button', onclick: () => void this.copy(this.jsonArea.value) }, icon('copy'), ' Copy'),
                this.jsonMessage,
              ),
            ),
          ),
          h('section', { 'aria-labelledby': 'input-heading' }, h('h2', { id: 'input-heading' }, 'Input'), ...this.input.element),
          h('section', { 'aria-labelledby': 'weights-heading' }, h('h2', { id: 'weights-heading' }, 'Weights'), this.weights.element),
        ),
        h(
          'main',
          { className: 'main', id: 'results', tabindex: -1 },
          h(
            'div',
            { role: 'tablist', className: 'tabs', 'aria-label': 'Views' },
            (['maps', 'costs', 'export'] as Tab[]).map((tab) => this.tabButton(tab)),
          ),
          mapsRoot,
          costsRoot,
          exportRoot,
        ),
      ),
    );
    this.input.render();
    this.weights.render();
    this.showModelView();
    this.selectTab(this.state.tab);
    this.modelChanged(true);
    void this.input.refreshPreview();
    void this.probeBackends();

    host.onMessage((message) => {
      if (message.type === 'init') {
        this.remote = message.remote === true;
        if (message.convention || message.dtype)
          this.update({
            convention: (message.convention as PlaygroundState['convention']) ?? this.state.convention,
            dtype: (message.dtype as PlaygroundState['dtype']) ?? this.state.dtype,
          });
        if (message.model) this.loadModel(message.model, message.modelOptions);
        else this.refreshCosts();
      } else if (message.type === 'loadModel') {
        this.loadModel(message.model, message.options);
      } else if (message.type === 'protocolError' || message.type === 'modelFileError') {
        this.status.textContent = message.error;
      }
    });
    host.ready();
    // Canvas colours follow the theme: redraw the charts when VS Code swaps the body's theme class.
    new MutationObserver(() => this.costs.drawCharts()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
    window.addEventListener('resize', () => this.costs.drawCharts());
  }

  /** The standalone page's stand-in for VS Code's colour theme (VS Code sets the theme itself). */
  private themeSwitch(): HTMLElement {
    const theme = initialTheme();
    applyTheme(theme);
    const choice = select<StandaloneTheme>(
      STANDALONE_THEMES.map((t): [StandaloneTheme, string] => [t, THEME_LABELS[t]]),
      theme,
      (next) => applyTheme(next),
      { id: 'theme' },
    );
    return h('span', { className: 'theme-switch' }, labelled('Theme', choice));
  }

  // -------------------------------------------------------------------------------------------
  // State

  private update(patch: Partial<PlaygroundState>): void {
    this.state = { ...this.state, ...patch };
    this.host.setState(this.state);
    if ('convention' in patch || 'dtype' in patch || 'device' in patch || 'customPeakGflops' in patch || 'customBandwidthGbs' in patch) this.refreshCosts();
    if ('backend' in patch) this.refreshRunButton();
  }

  private costSettings() {
    const { convention, dtype, device, customPeakGflops, customBandwidthGbs } = this.state;
    return { convention, dtype, device, customPeakGflops, customBandwidthGbs };
  }

  /** Loads a model; an imported one is shown as its blocks, its input normalised as `options` says (ImageNet's by default). */
  private loadModel(model: ModelSpec, options: LoadModelOptions = {}): void {
    const inputShape = Array.isArray(model.input_shape) && model.input_shape.length === 4 ? model.input_shape : undefined;
    const patch: Partial<PlaygroundState> = {
      model: structuredClone(model),
      inputSize: inputShape ? [inputShape[2]!, inputShape[3]!] : this.state.inputSize,
      chosenBlocks: [],
      countedParams: checkCountedParams(options.countedParams),
    };
    if (this.state.mapSteps === 'chosen') patch.mapSteps = 'all';
    if (options.imported) {
      patch.modelView = 'blocks';
      patch.normalisation = 'imagenet';
    }
    if (options.normalisation)
      Object.assign(patch, { normalisation: 'custom', customMean: [...options.normalisation.mean], customStd: [...options.normalisation.std] });
    const weights = this.weights.modelLoaded(options.hostWeights === true);
    if (weights) patch.weights = weights;
    this.update(patch);
    this.weights.render();
    this.blocks.reset();
    this.mapStepsSelect.value = this.state.mapSteps;
    this.maps.setOptions({ filter: this.mapFilter() });
    this.showModelView();
    this.input.render();
    this.modelChanged(true);
    void this.input.refreshPreview();
  }

  /** A model file opened in the standalone page: its graph, and its trained weights as the page's weights file. */
  private openModelFile(model: PageModelFile): void {
    this.loadModel(model.spec, model.options);
    this.weights.useFileWeights(model.weights);
    this.refreshRunButton();
  }

  /** Which feature maps the view shows, from the "Show" choice and the blocks chosen in the list. */
  private mapFilter(): { shows(map: WireFeatureMap): boolean; why: string } | undefined {
    const { mapSteps, chosenBlocks } = this.state;
    if (mapSteps === 'convs') return { shows: isConvStep, why: 'every conv' };
    if (mapSteps === 'chosen') {
      return chosenBlocks.length
        ? { shows: (map) => stepInBlocks(map, chosenBlocks), why: `the blocks chosen in the list (${chosenBlocks.join(', ')})` }
        : { shows: () => false, why: 'no block is chosen: tick blocks in the list (Model, View: Blocks)' };
    }
    return undefined;
  }

  /** The layer editor's fields, or the list of blocks. */
  private showModelView(): void {
    // The graph form (an imported network) has no layer editor: it is always shown as its blocks.
    if (!Array.isArray(this.state.model.layers) && this.state.modelView !== 'blocks') this.update({ modelView: 'blocks' });
    const blocks = this.state.modelView === 'blocks';
    const viewSelect = document.getElementById('model-view') as HTMLSelectElement | null;
    if (viewSelect && viewSelect.value !== this.state.modelView) viewSelect.value = this.state.modelView;
    this.editorRoot.hidden = blocks;
    this.blocksRoot.hidden = !blocks;
    if (blocks) this.refreshBlocks();
  }

  private refreshBlocks(): void {
    if (this.state.modelView !== 'blocks') return;
    this.blocks.show(this.cost?.leaves, this.validation.error?.message);
  }

  private applyJson(): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.jsonArea.value);
    } catch (error) {
      this.jsonMessage.textContent = `Not JSON: ${(error as Error).message}`;
      return;
    }
    const graph = !!parsed && typeof parsed === 'object' && Array.isArray((parsed as { nodes?: unknown }).nodes);
    if (!parsed || typeof parsed !== 'object' || (!graph && !Array.isArray((parsed as ModelSpec).layers))) {
      this.jsonMessage.textContent = 'A model is an object with a "layers" list (or, graph form, a "nodes" list).';
      return;
    }
    this.jsonMessage.textContent = 'Applied.';
    // The graph form has no layer editor: it is shown as its blocks, as an imported network is.
    this.loadModel(parsed as ModelSpec, graph ? { imported: true } : {});
  }

  private modelChanged(structural: boolean): void {
    this.host.setState(this.state);
    // Timings of another model (or input size) say little about this one.
    this.measuredRoutes = {};
    let resolved: ResolvedModel | undefined;
    let error: Error | undefined;
    try {
      resolved = resolveModel(this.state.model, { inputShape: this.input.shape() });
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
    }
    if (error) error = explainJsonField(error, this.state.model);
    this.validation = { resolved, error, prefix: error ? this.resolvePrefix(error) : undefined };
    if (structural) this.editor.render();
    this.editor.showValidation(this.validation);
    const modelLevel = error && (!(error instanceof SpecError) || error.layerIndex < 0 || error.layerIndex >= (this.state.model.layers?.length ?? 0));
    this.modelError.hidden = !modelLevel;
    this.modelError.textContent = modelLevel ? error!.message : '';
    if (document.activeElement !== this.jsonArea) this.jsonArea.value = JSON.stringify(this.state.model, null, 2);
    this.refreshCosts();
    this.refreshRunButton();
  }

  /** The layers before an invalid one, resolved on their own (so that their shapes still show). */
  private resolvePrefix(error: Error): ResolvedModel | undefined {
    if (!(error instanceof SpecError) || error.layerIndex < 0) return undefined;
    const layers = (this.state.model.layers ?? []).slice(0, error.layerIndex);
    try {
      // With no layers there is nothing to resolve, but the invalid first layer still gets the input's shape.
      if (layers.length === 0)
        return {
          name: 'prefix',
          form: 'chain',
          inputShape: this.input.shape(),
          outputShape: this.input.shape(),
          outputs: [{ layer: -1, output: 0 }],
          layers: [],
          leaves: [],
          activationBytes: 0,
        };
      return resolveModel({ ...this.state.model, layers }, { inputShape: this.input.shape() });
    } catch {
      return undefined;
    }
  }

  /**
   * A host run's answer, unpacked and painted in the page's worker (a compressed answer is inflated
   * there too); where the worker cannot start, unpacked here and left for the maps view to paint.
   */
  private async paintHostAnswer(
    answer: PackedRunResult | CompressedRunResult,
    paint: PaintRequest,
    signal: AbortSignal,
  ): Promise<{ result: PageRunResult; pictures: (StepPicture | undefined)[] }> {
    if (isCompressedRunResult(answer)) {
      const { featureMaps: _packed, mapsDeflated, mapsBytes: _bytes, ...rest } = answer;
      try {
        const painted = await this.engine.unpack(answer, paint, { signal });
        return { result: { ...rest, featureMaps: painted.maps }, pictures: painted.pictures };
      } catch (error) {
        // A worker that could not start never took the maps (their buffer is intact).
        if (error instanceof RequestCancelled || mapsDeflated.byteLength === 0) throw error;
        return { result: await unpackRunResult(answer), pictures: [] };
      }
    }
    const result = await unpackRunResult(answer);
    try {
      const painted = await this.engine.paint(result.featureMaps, paint, { signal });
      return { result: { ...result, featureMaps: painted.maps }, pictures: painted.pictures };
    } catch (error) {
      // When the page worker could not start, the maps never left (their buffers are intact): they are painted on this thread.
      if (error instanceof RequestCancelled || result.featureMaps.some((m) => m.ranges.byteLength === 0)) throw error;
      return { result, pictures: [] };
    }
  }

  private refreshCosts(): void {
    try {
      this.cost = this.validation.resolved
        ? withCountedParams(costModel(this.validation.resolved, { convention: this.state.convention, dtype: this.state.dtype }), this.state.countedParams)
        : undefined;
    } catch {
      this.cost = undefined;
    }
    const run = this.lastRun && this.lastRun.modelJson === JSON.stringify(this.state.model) ? this.lastRun.result : undefined;
    this.refreshBlocks();
    this.costs.show(this.cost, run, this.costSettings());
    this.exports.show(this.state.model, this.cost, run);
  }

  // -------------------------------------------------------------------------------------------
  // Tabs

  private tabButton(tab: Tab): HTMLButtonElement {
    const labels: Record<Tab, string> = { maps: 'Feature maps', costs: 'Costs', export: 'Export' };
    const button = h(
      'button',
      { type: 'button', role: 'tab', id: `tab-${tab}`, 'aria-controls': `panel-${tab}`, onclick: () => this.selectTab(tab) },
      labels[tab],
    );
    button.addEventListener('keydown', (event) => {
      const order: Tab[] = ['maps', 'costs', 'export'];
      const delta = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
      if (!delta) return;
      const next = order[(order.indexOf(tab) + delta + order.length) % order.length]!;
      this.selectTab(next);
      document.getElementById(`tab-${next}`)?.focus();
    });
    return button;
  }

  private selectTab(tab: Tab): void {
    this.update({ tab });
    for (const [name, panel] of Object.entries(this.panels) as [Tab, HTMLElement][]) {
      panel.id = `panel-${name}`;
      panel.setAttribute('role', 'tabpanel');
      panel.setAttribute('aria-labelledby', `tab-${name}`);
      panel.hidden = name !== tab;
      const button = document.getElementById(`tab-${name}`);
      button?.setAttribute('aria-selected', String(name === tab));
      button?.setAttribute('tabindex', name === tab ? '0' : '-1');
    }
    if (tab === 'costs') this.costs.drawCharts();
  }

  // -------------------------------------------------------------------------------------------
  // Running

  private backendChoices(): [BackendChoice, string][] {
    return backendChoices({ standalone: this.host.standalone, pageGpu: this.webgpu, hostGpu: this.hostGpu });
  }

  private async probeBackends(): Promise<void> {
    const [webgpu, hostGpu] = await Promise.all([
      this.engine.probeWebGpu().catch((error: Error) => ({ available: false, description: error.message, software: false })),
      this.host.request('probeHostGpu', {}).catch((error: Error) => ({ available: false, description: error.message, software: false })),
    ]);
    this.webgpu = webgpu;
    this.hostGpu = hostGpu;
    const options = this.backendChoices();
    [...this.backendSelect.options].forEach((option, i) => (option.textContent = options[i]![1]));
    this.refreshRunButton();
  }

  /** Where a run goes, or why it cannot run. */
  private route(): Route | { blocked: string } {
    return routeRun({
      choice: this.state.backend,
      weights: this.state.weights.kind,
      standalone: this.host.standalone,
      remote: this.remote,
      pageGpu: this.webgpu,
      hostGpu: this.hostGpu,
      measured: this.measuredRoutes,
    });
  }

  private refreshRunButton(): void {
    let reason = '';
    const error = this.validation.error;
    if (error)
      reason = error instanceof SpecError && error.layerIndex >= 0 ? `Fix layer #${error.layerIndex}: ${error.message}` : `Fix the model: ${error.message}`;
    else if (this.weights.missing()) reason = this.weights.missing();
    else {
      const route = this.route();
      if ('blocked' in route) reason = route.blocked;
    }
    if (this.running) reason = '';
    this.runButton.disabled = reason !== '' || this.running !== undefined;
    this.runButton.title = reason || 'Run the model on the input (Ctrl+Enter)';
    this.runReason.textContent = reason;
    this.runButton.setAttribute('aria-describedby', 'run-reason');
  }

  async run(): Promise<void> {
    if (this.runButton.disabled) return;
    const started = performance.now();
    const route = this.route();
    if ('blocked' in route) return;
    const controller = new AbortController();
    // Read before the first DOM change of the run (reading the width afterwards would force a layout).
    const paint = this.maps.paintRequest();
    this.running = controller;
    this.refreshRunButton();
    this.cancelButton.hidden = false;
    this.progress.hidden = false;
    this.progress.value = 0;
    this.status.textContent = `Running (${route.why})…`;
    for (const key of Object.keys(this.status.dataset)) delete this.status.dataset[key];
    const modelJson = JSON.stringify(this.state.model);
    try {
      const tensor = await this.input.tensor();
      const model: ModelSpec = { ...this.state.model, input_shape: tensor.shape };
      const tPrep = performance.now();
      const onProgress = (done: number, total: number) => {
        this.progress.max = total;
        this.progress.value = done;
      };
      let result: PageRunResult;
      let pictures: (StepPicture | undefined)[] = [];
      let reader: ChannelReader | undefined;
      let tAnswer: number | undefined;
      if (route.where === 'page') {
        // The worker runs the model, then paints every grid: this thread only copies pixels into canvases.
        ({ result, pictures } = await this.engine.run(route.backend, model, tensor, await this.weights.forWorker(), paint, {
          signal: controller.signal,
          onProgress,
        }));
      } else {
        // The host answers with what is drawn (previews); values are read from it when needed.
        // An input the host already holds (the same image as a recent run) is named, not sent.
        const answer = await this.hostInputs.send(tensor, (input) =>
          this.host.request(
            'run',
            { backend: route.backend, model, input, weights: this.state.weights, intermediates: true, previewChannels: DEFAULT_CHANNEL_CAP },
            { signal: controller.signal, onProgress },
          ),
        );
        tAnswer = performance.now();
        const runId = answer.runId;
        reader = async (key, start, end) =>
          new Float32Array((await this.host.request('readTensor', { runId, step: key, channelStart: start, channelEnd: end })).data);
        ({ result, pictures } = await this.paintHostAnswer(answer, paint, controller.signal));
      }
      const tResult = performance.now();
      this.maps.show(result, pictures, paint.availableWidth, reader);
      const tDrawn = performance.now();
      // The maps shown before are read by nothing now: the worker unpacks later answers into their buffers.
      if (this.lastRun && this.lastRun.result !== result) this.engine.recycleMaps(this.lastRun.result.featureMaps);
      this.lastRun = { result, modelJson };
      const drawnMs = tDrawn - started;
      this.measuredRoutes[routeKey(route)] = drawnMs;
      this.status.textContent = `${result.device}: engine ${result.totalMs.toFixed(1)} ms; Run → last map drawn ${drawnMs.toFixed(1)} ms${result.note ? ` (${result.note})` : ''}`;
      // The figures behind the README's timing: input preparation, the engine's round trip (run and
      // paint in the worker, transfer), drawing here, and the next frame on screen (painted).
      Object.assign(this.status.dataset, {
        prepareMs: (tPrep - started).toFixed(2),
        roundTripMs: (tResult - tPrep).toFixed(2),
        // Host runs: the answer's arrival (engine, previews, the wire), then the page worker's painting.
        ...(tAnswer === undefined ? {} : { answerMs: (tAnswer - tPrep).toFixed(2), paintMs: (tResult - tAnswer).toFixed(2) }),
        ...(result.hostMs === undefined ? {} : { hostMs: result.hostMs.toFixed(2) }),
        drawMs: (tDrawn - tResult).toFixed(2),
        engineMs: result.totalMs.toFixed(2),
        backend: result.backend,
      });
      // A task queued from requestAnimationFrame runs after that frame is painted. The cost table and
      // the exports (other tabs) are brought up to date after it, not before the maps are seen.
      requestAnimationFrame(() =>
        setTimeout(() => {
          this.status.dataset.paintedMs = (performance.now() - started).toFixed(2);
          this.status.dataset.drawnMs = drawnMs.toFixed(2);
          this.refreshCosts();
        }, 0),
      );
    } catch (error) {
      this.status.textContent = error instanceof RequestCancelled ? 'Cancelled.' : `Run failed: ${(error as Error).message}`;
    } finally {
      this.running = undefined;
      this.cancelButton.hidden = true;
      this.progress.hidden = true;
      this.refreshRunButton();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Files

  private async save(name: string, content: string | ArrayBuffer): Promise<void> {
    try {
      const result = await this.host.request('saveFile', { suggestedName: name, content });
      if (result.path) this.status.textContent = `Saved ${result.path}`;
    } catch (error) {
      this.status.textContent = `Could not save: ${(error as Error).message}`;
    }
  }

  private async copy(text: string): Promise<void> {
    try {
      await this.host.request('copyText', { text });
      this.status.textContent = 'Copied.';
    } catch (error) {
      this.status.textContent = `Could not copy: ${(error as Error).message}`;
    }
  }
}

/**
 * A Residual's body is typed as JSON in its card; text that does not parse stays in the spec as a
 * string, and the spec's message ("must be a non-empty list of layers") would not say what is wrong
 * with it. This says so, with the parser's own words (position, line and column).
 */
function explainJsonField(error: Error, model: ModelSpec): Error {
  if (!(error instanceof SpecError) || error.field !== 'body' || error.layerIndex < 0) return error;
  const body = (model.layers?.[error.layerIndex] as unknown as Record<string, unknown> | undefined)?.body;
  if (typeof body !== 'string') return error;
  try {
    JSON.parse(body);
    return error;
  } catch (parseError) {
    return new SpecError(error.path, 'body', `is not valid JSON: ${(parseError as Error).message}`, error.layerIndex);
  }
}

const root = document.getElementById('app');
if (root) {
  const playground = new Playground(root, connectHost());
  document.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 'Enter') {
      event.preventDefault();
      // A field being edited applies its text first (inputs and text areas apply on change).
      const active = document.activeElement;
      if (active instanceof HTMLTextAreaElement || (active instanceof HTMLInputElement && (active.type === 'text' || active.type === 'number')))
        active.dispatchEvent(new Event('change', { bubbles: true }));
      void playground.run();
    }
  });
}
