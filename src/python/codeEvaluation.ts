/**
 * Evaluates a Python file the way importing it and building its models would: runs the top
 * level, then each model it defines that can be built with default arguments (nn.Module and Keras
 * Model classes, functions that return a model), then each model's forward() from its input (the
 * default size for the first layer, where the code does not give one). The result is, per conv
 * call site, every instance built there with its figures, or why they are not known.
 */
import type { Node } from 'web-tree-sitter';
import type { Convention, Dtype } from '../shared/cost';
import { Interpreter, DEFAULT_LIMITS, type EvalLimits, type ImportResolver, type SourceFile } from './modelEvaluator';
import { heldValues, LimitError, RaiseError, type LayerInstance, type SiteRef, type Value, type Framework } from './evalValues';
import { isExtraNode } from './pythonParser';
import { convSpatialDims } from './evalLibrary';

export interface EvaluationSettings {
  convention: Convention;
  dtype: Dtype;
  defaultInputSize: [number, number];
  /** The models' input (2 to 5 dimensions, batch first), instead of a `# sepconv: input` comment of the file. */
  inputShape?: number[];
  limits?: EvalLimits;
  /** True once the result is no longer wanted: the evaluation stops at its next bound check. */
  cancelled?: () => boolean;
  /**
   * Expressions that build the models (`EfficientNet.from_name('efficientnet-b0')`), each parsed
   * (path: the expression's text), evaluated in the file's top level instead of its entries.
   */
  calls?: SourceFile[];
  /**
   * The expressions of the file's `# sepconv: call UNet(3, 2)` comments (see commentCalls), each
   * parsed: models built after the file's entries and script steps.
   */
  commentCalls?: SourceFile[];
}

/** `# sepconv: call EXPR` comments take at most this many, each shorter than COMMENT_CALL_CHARS. */
const MAX_COMMENT_CALLS = 8;
const COMMENT_CALL_CHARS = 300;
/** A `# sepconv: call EXPR` comment, a line of its own: EXPR. */
const CALL_COMMENT = /^[ \t]*#[ \t]*sepconv:[ \t]*call[ \t]+(\S.*?)[ \t]*$/i;

/**
 * The expressions of the file's `# sepconv: call UNet(3, 2)` comments (a line of their own), each
 * once, in order: models that need arguments, built as the comment says (media/python/measure.py
 * reads the same comments).
 */
export function commentCalls(source: string): string[] {
  const calls: string[] = [];
  for (const m of source.matchAll(new RegExp(CALL_COMMENT.source, 'gim'))) {
    const text = m[1]!;
    if (text.length < COMMENT_CALL_CHARS && !calls.includes(text)) calls.push(text);
    if (calls.length === MAX_COMMENT_CALLS) break;
  }
  return calls;
}

/** One distinct configuration of a site and how many instances have it. */
export interface InstanceGroup extends Pick<
  LayerInstance,
  'kind' | 'params' | 'macs' | 'input' | 'output' | 'weight' | 'separable' | 'reason' | 'neverApplied'
> {
  count: number;
}

export interface SiteEvaluation {
  site: SiteRef;
  framework: Framework;
  /** Conv2d, Conv2D, DepthwiseConv2D, SeparableConv2D. */
  type: string;
  /** Instances in all (0 when the site was never reached: see `reason`). */
  count: number;
  groups: InstanceGroup[];
  /** Why no instance is known, when there is none. */
  reason?: string;
  /** Why the instances listed may not be all of them (a model that reaches the site was not fully evaluated). */
  incomplete?: string;
}

/** A model the file builds (a class, a builder function, or the top level): its totals over every instance. */
export interface ModelEvaluation {
  name: string;
  /** 0-based line and column of the class or function header (or the call that built it). */
  line: number;
  column: number;
  params: number;
  macs: number;
  convInstances: number;
  /** Layer instances whose figures are not known (not counted in the totals). */
  unknownInstances: number;
  /** Why the evaluation of this model stopped, if it did. */
  stopped?: string;
  /** Code that may build more layers was not followed: the totals are at least these. */
  incomplete?: true;
}

/** What became of each model the file defines. */
export interface EntryEvaluation {
  name: string;
  /** Counted: it built a model (not the same as an earlier entry's). */
  kept: boolean;
  /** Why it was not counted or where it stopped. */
  note?: string;
}

export interface FileEvaluation {
  sites: SiteEvaluation[];
  entries: EntryEvaluation[];
  models: ModelEvaluation[];
  /** Why the file's top level could not be evaluated, if it could not. */
  error?: string;
  /** Model classes and builders of the file that need arguments and that nothing built (see commentCalls). */
  needsArguments?: string[];
}

export const CONV_LAYER_TYPES: ReadonlySet<string> = new Set([
  'Conv2d',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Conv2DTranspose',
  'Conv1D',
  'DepthwiseConv1D',
  'SeparableConv1D',
  'Conv1d',
  'Conv3d',
  'ConvTranspose1d',
  'ConvTranspose2d',
  'ConvTranspose3d',
]);

/** PyTorch layers other than convs that have parameters by default. */
const PARAMETRIC_TORCH: ReadonlySet<string> = new Set([
  'Linear',
  'BatchNorm1d',
  'BatchNorm2d',
  'BatchNorm3d',
  'SyncBatchNorm',
  'LayerNorm',
  'GroupNorm',
  'PReLU',
]);

interface Run {
  name: string;
  /** The top level of the file (not an entry). */
  topLevel?: boolean;
  /** Why the model's input is not known. */
  inputReason?: string;
  note?: string;
  node?: Node;
  instances: LayerInstance[];
  invoked: Set<number>;
  kept: boolean;
  stopped?: string;
  /** Code that may build layers was not followed during the run: its totals are lower bounds. */
  unfollowed?: boolean;
  /** The model the run applied. */
  model?: Value;
}

/**
 * The ids of the layers a model holds (its attributes, containers and their children, all the way
 * down); undefined where some part of it is not known (a container built by code not followed, an
 * attribute whose value is not known), as a layer may then be held there.
 */
function layersOf(model: Value): Set<number> | undefined {
  const ids = new Set<number>();
  const visited = new Set<object>();
  const pending: Value[] = [model];
  while (pending.length > 0) {
    const v = pending.pop()!;
    if (visited.has(v)) continue;
    visited.add(v);
    if (v.k === 'unknown' || (v.k === 'layer' && v.layer.args.__tainted__) || ((v.k === 'list' || v.k === 'dict') && v.taint)) return undefined;
    if (v.k === 'layer') ids.add(v.layer.id);
    pending.push(...heldValues(v));
  }
  return ids;
}

/**
 * `# sepconv: input 1,3,32,32` anywhere in the file: the models' input, 2 to 5 dimensions (N, C,
 * H, W for images; N, C, L or N, L for 1-D models such as audio nets; N, C, D, H, W for 3-D).
 */
export function declaredInput(source: string): number[] | undefined {
  const m = /#\s*sepconv:\s*input\s+(\d+(?:\s*[,x×]\s*\d+){1,4})(?![\d,x×])/i.exec(source);
  if (!m) return undefined;
  const dims = m[1]!.split(/\s*[,x×]\s*/).map(Number);
  return dims.every((d) => Number.isSafeInteger(d) && d >= 1 && d <= 1 << 24) ? dims : undefined;
}

function isModule(it: Interpreter, v: Value): boolean {
  if (v.k === 'layer') return true;
  if (v.k === 'obj') return it.libraryBases(v.cls).some((b) => it.lib.isModuleBase(b));
  return false;
}

function frameworkOf(it: Interpreter, v: Value): Framework {
  if (v.k === 'layer') return v.layer.framework;
  if (v.k === 'obj') return it.libraryBases(v.cls).some((b) => b.startsWith('keras')) ? 'keras' : 'torch';
  return 'torch';
}

function applied(it: Interpreter, v: Value): boolean {
  if (v.k === 'layer') return v.layer.applied > 0 || (v.layer.framework === 'keras' && !!v.layer.kerasOutput);
  if (v.k === 'obj') return it.appliedIds.has(v.id) || (!!v.base && v.base.applied > 0);
  return true;
}

/** Function names that are script steps, not model builders (as the measuring script skips them). */
const SCRIPT_STEP =
  /^(main|test|tests|train|training|eval|evaluate|val|validate|validation|run|demo|benchmark|bench|export|load|save|download|preprocess|decode|inference|infer|predict|fit|plot|show|print)(_|$)/i;

/** Evaluates `root` (parsed); other files of the workspace come through `resolve`. */
export function evaluateFile(root: SourceFile, source: string, resolve: ImportResolver, settings: EvaluationSettings): FileEvaluation {
  const it = new Interpreter(root, resolve, {
    defaultInputSize: settings.defaultInputSize,
    declaredInput: settings.inputShape ?? declaredInput(source),
    limits: settings.limits ?? DEFAULT_LIMITS,
    cost: { convention: settings.convention, dtype: settings.dtype },
    cancelled: settings.cancelled,
  });
  const runs: Run[] = [];
  const failures = new Map<number, { site: SiteRef; reason: string; certain?: boolean }>();

  const begin = () => {
    it.instances = [];
    it.built = [];
    it.modulesBuilt = [];
    it.invoked = new Set();
  };
  /** Ends a run; what it built but never applied is recorded with its params only. */
  const finish = (run: Run) => {
    const seen = new Set(it.instances.map((i) => i.layerId));
    // Layers of the model (reachable from it): a layer built and then replaced (a subclass that
    // assigns another block over its parent's) is not a part of it, as PyTorch would not count it.
    const inModel = run.model ? layersOf(run.model) : undefined;
    for (const layer of it.built) {
      if (!layer.site || seen.has(layer.id) || layer.detached) continue;
      if (inModel && layer.framework === 'torch' && !inModel.has(layer.id)) continue;
      const type = layer.cls.split('.').pop()!;
      // Convs, and the PyTorch layers with parameters (which count in a model's parameters even when
      // forward() never applies them: PFLD's bn8): not known where forward() is not followed to them.
      if (!CONV_LAYER_TYPES.has(type) && !(layer.framework === 'torch' && PARAMETRIC_TORCH.has(type))) continue;
      // A part of the model that forward(), followed all the way, never applies: its parameters
      // count (model.parameters() has them), its MACs are none. A conv says so at its site.
      const followed = inModel !== undefined && !run.stopped && !run.inputReason && !run.unfollowed;
      if (!CONV_LAYER_TYPES.has(type) && followed && it.lib.recordNeverApplied(layer)) continue;
      if (followed && layer.framework === 'torch') {
        it.lib.recordUnapplied(layer, 'not applied: forward() never applies this layer (its parameters count in the totals)', true);
        continue;
      }
      const why =
        run.stopped ??
        run.inputReason ??
        (run.topLevel
          ? 'built at the top level of the file and applied by no model (a top-level container gets the default input from its first layer; a lone layer does not)'
          : 'the layer is not applied by forward() as far as it is followed');
      it.lib.recordUnapplied(layer, `input unknown: ${why}`);
    }
    run.instances = it.instances;
    run.invoked = it.invoked;
  };
  const failed = (run: Run, error: unknown) => {
    if (error instanceof LimitError) run.stopped = 'evaluation limit';
    else if (error instanceof RaiseError) run.stopped = error.message;
    else run.stopped = `the evaluator failed (${error instanceof Error ? error.message : String(error)})`;
    // Code that raises fails when run too: the entry builds nothing there, and the other models'
    // counts at the layers it reached stay whole.
    const certain = error instanceof RaiseError && !run.topLevel;
    for (const i of it.instances) if (!failures.has(i.site.start) || !certain) failures.set(i.site.start, { site: i.site, reason: run.stopped, certain });
    for (const l of it.built)
      if (l.site && CONV_LAYER_TYPES.has(l.cls.split('.').pop()!) && (!failures.has(l.site.start) || !certain))
        failures.set(l.site.start, { site: l.site, reason: run.stopped, certain });
  };

  // The top level, as an import runs it (Keras models built there are costed as they are built).
  begin();
  const top: Run = { name: '<module>', instances: [], invoked: new Set(), kept: true, topLevel: true };
  try {
    it.execModule(root);
  } catch (error) {
    failed(top, error);
  }
  finish(top);
  runs.push(top);
  if (top.stopped === 'evaluation limit') return collect(runs, failures, top.stopped, top.stopped, it.unfollowedCalls);

  // Each model class and builder function that needs no arguments, in source order.
  const scope = it.moduleScope(root.path);
  const candidates: { name: string; value: Value; node: Node; overrides: Map<string, Value>; expression?: Node }[] = [];
  /** Classes and builders of the file that need arguments, and the model classes (whose class methods may build one). */
  const needsArguments = new Map<string, 'needs arguments' | 'model class'>();
  for (const [name, value] of scope?.vars ?? []) {
    if (value.k === 'func' && value.fn.file === root.path && atTopLevel(value.fn.node) && value.fn.node.type === 'function_definition') {
      if (name.startsWith('_') || SCRIPT_STEP.test(name)) continue;
      if (Interpreter.allDefaults(value.fn.node, false)) candidates.push({ name, value, node: value.fn.node, overrides: overridesOf(value.fn.defaults) });
      else if (value.fn.name === name) needsArguments.set(name, 'needs arguments');
    } else if (value.k === 'class' && value.cls.file === root.path && value.cls.node && atTopLevel(value.cls.node) && isModuleClass(it, value)) {
      const init = it.classAttr(value.cls, '__init__');
      if (value.cls.name === name) needsArguments.set(name, 'model class');
      if (!init || init.value.k !== 'func') candidates.push({ name, value, node: value.cls.node, overrides: new Map() });
      else if (Interpreter.allDefaults(init.value.fn.node, true))
        candidates.push({ name, value, node: value.cls.node, overrides: overridesOf(init.value.fn.defaults) });
      else if (value.cls.name === name) needsArguments.set(name, 'needs arguments');
    }
  }
  candidates.sort((a, b) => a.node.startIndex - b.node.startIndex);
  if (settings.calls) {
    // The expressions the user gave build the models, instead of the file's entries.
    candidates.length = 0;
    for (const call of settings.calls) {
      const expression = call.tree.rootNode.namedChildren[0]?.namedChildren[0];
      if (call.tree.rootNode.namedChildren.length !== 1 || call.tree.rootNode.hasError || expression?.type !== 'call')
        throw new Error(`the model expression ${JSON.stringify(call.path)} is not one call, like Net(10)`);
      candidates.push({ name: call.path, expression, node: expression, value: NONE_VALUE, overrides: new Map() });
    }
  }
  const entryCount = candidates.length;
  /** Entries whose building raised (with their default arguments). */
  const buildFailed = new Set<string>();
  const fingerprints = new Set<string>();
  /** Fingerprints of models not fully followed. */
  const partialPrints = new Set<string>();
  /** Runs a model from its input (declared, or the default size with its first layer's channels). */
  const applyModel = (run: Run, model: Value) => {
    const input = modelInput(it, model);
    if (input.k === 'tensor' && input.t.reason) run.inputReason = input.t.reason;
    it.callValue(model, [input], new Map(), undefined);
  };
  /**
   * A kept run that built the same instances as an earlier one is not counted again. Models that
   * agree on what was followed may differ in what was not: whether this one is another model
   * (whose layers count again) is then not known.
   */
  const dropRepeat = (run: Run) => {
    if (!run.kept) return;
    const print = JSON.stringify(run.instances.map((i) => [i.site.start, i.type, i.params, i.macs, i.input, i.output, i.reason]).sort());
    // A layer that forward(), followed all the way, never applies (GoogLeNet's auxiliary heads
    // outside training) is known not to be applied: that leaves nothing of the model unknown.
    const partial = run.unfollowed || run.instances.some((i) => i.reason !== undefined && !i.neverApplied);
    if (fingerprints.has(print)) {
      run.kept = false;
      run.note = 'the same model as an earlier entry';
      if (partial || partialPrints.has(print))
        for (const i of run.instances)
          failures.set(i.site.start, {
            site: i.site,
            reason: `${run.name} may build these layers again (it agrees with an earlier entry on what is followed, and not all of it is)`,
          });
    }
    fingerprints.add(print);
    if (partial) partialPrints.add(print);
  };
  let incomplete: string | undefined;
  for (let index = 0; index <= candidates.length; index++) {
    if (index === entryCount && !settings.calls) {
      // Then the models the file's own script steps build with literal arguments (`net = Net(10)`
      // in test(), under `if __name__ == '__main__':`, at the top level), for the classes and
      // builders that need arguments or raised with their defaults, as the measuring script does.
      const wanted = new Map(needsArguments);
      for (const name of buildFailed) wanted.set(name, 'needs arguments');
      for (const call of constructionCalls(root.tree.rootNode, wanted))
        candidates.push({ name: call.text, expression: call, node: call, value: NONE_VALUE, overrides: new Map() });
      // Then the models of the file's `# sepconv: call` comments, at their comment.
      for (const call of settings.commentCalls ?? []) {
        const expression = call.tree.rootNode.namedChildren[0]?.namedChildren[0];
        const comment = commentNode(root.tree.rootNode, call.path);
        if (!comment || candidates.some((c) => c.name === call.path)) continue;
        if (call.tree.rootNode.namedChildren.length !== 1 || call.tree.rootNode.hasError || expression?.type !== 'call') {
          runs.push({
            name: call.path,
            node: comment,
            instances: [],
            invoked: new Set(),
            kept: false,
            note: 'the # sepconv: call comment is not one call, like UNet(3, 2)',
          });
          continue;
        }
        candidates.push({ name: call.path, expression, node: comment, value: NONE_VALUE, overrides: new Map() });
      }
    }
    if (index === candidates.length) break;
    const c = candidates[index]!;
    begin();
    const notFollowedBefore = it.notFollowed;
    const run: Run = { name: c.name, node: c.node, instances: [], invoked: new Set(), kept: false };
    let built = false;
    try {
      const model = c.expression
        ? it.eval(c.expression, scope!, c.expression.tree === root.tree ? root.path : '<call>')
        : it.callValue(c.value, [], c.overrides, undefined);
      built = true;
      // A forward pass inside the model's own __init__ (YOLO backbones find their widths with
      // self.forward(torch.randn(1, 3, 640, 640))) is not the model's forward: the measurement
      // counts the model's call alone. What Keras builds is its graph, and stays.
      it.instances = it.instances.filter((i) => i.framework !== 'torch' || i.atBuild);
      if (!isModule(it, model)) run.note = `returned ${model.k === 'unknown' ? `something not known (${model.reason})` : `a ${model.k}`}, not a model`;
      else {
        run.kept = true;
        run.model = model;
        applyModel(run, model);
      }
    } catch (error) {
      failed(run, error);
      run.kept = false;
      if (!built && error instanceof RaiseError && !c.expression) buildFailed.add(c.name);
    }
    if (it.notFollowed > notFollowedBefore) run.unfollowed = true;
    finish(run);
    dropRepeat(run);
    runs.push(run);
    if (run.stopped === 'evaluation limit') {
      const left = candidates.length - index - 1;
      if (left > 0) incomplete = `evaluation limit (${left} more model${left === 1 ? '' : 's'} of the file not evaluated)`;
      break;
    }
  }

  // Models built at the top level (`model = nn.Sequential(nn.Conv2d(3, 32, 3), ...)`, `net = Net(10)`):
  // run from their first layer's input at the default size, as a model class is. After the
  // classes, so that a module-level instance of a class already run counts once (at the class).
  if (!top.stopped && !incomplete) {
    const seen = new Set<number>();
    for (const [name, value] of scope?.vars ?? []) {
      if (!isModuleLevelModel(it, value, seen)) continue;
      begin();
      const notFollowedBefore = it.notFollowed;
      const run: Run = { name, node: assignmentOf(root, name) ?? undefined, instances: [], invoked: new Set(), kept: true, model: value };
      try {
        applyModel(run, value);
      } catch (error) {
        failed(run, error);
        run.kept = false;
      }
      if (it.notFollowed > notFollowedBefore) run.unfollowed = true;
      finish(run);
      dropRepeat(run);
      runs.push(run);
      if (run.stopped === 'evaluation limit') break;
    }
  }
  const result = collect(runs, failures, top.stopped, incomplete, it.unfollowedCalls);
  // Classes and builders that need arguments and that no script step or comment built.
  const built = runs.filter((r) => r.kept).map((r) => r.name);
  const unbuilt = [...needsArguments].filter(([name, why]) => why === 'needs arguments' && !built.some((b) => b === name || b.startsWith(`${name}(`)));
  return unbuilt.length ? { ...result, needsArguments: unbuilt.map(([name]) => name) } : result;
}

/**
 * A PyTorch model built at the top level of the file: a container or block (a layer with
 * sub-modules) or an nn.Module object, that no other module holds and that nothing has applied.
 * A lone layer is not a model: its input stays unknown. `seen`: ids already taken (one value may
 * have two names).
 */
function isModuleLevelModel(it: Interpreter, value: Value, seen: Set<number>): boolean {
  let id: number;
  if (value.k === 'layer') {
    if (value.layer.framework !== 'torch' || !value.layer.site || !value.layer.children?.length || value.layer.applied > 0) return false;
    id = value.layer.id;
  } else if (value.k === 'obj') {
    if (!isModule(it, value) || frameworkOf(it, value) !== 'torch' || applied(it, value)) return false;
    id = value.id;
  } else return false;
  if (it.childIds.has(id) || seen.has(id)) return false;
  seen.add(id);
  return true;
}

/** The top-level statement that assigns `name` (where its CodeLens goes). */
function assignmentOf(root: SourceFile, name: string): Node | undefined {
  for (const statement of root.tree.rootNode.namedChildren) {
    const assignment = statement?.type === 'expression_statement' ? statement.namedChildren[0] : undefined;
    if (assignment?.type === 'assignment' && assignment.childForFieldName('left')?.text === name) return statement!;
  }
  return undefined;
}

const NONE_VALUE: Value = { k: 'none' };

/** A constant Python literal (what `ast.literal_eval` reads): numbers, strings, True/False/None, tuples and lists of them. */
function isLiteral(node: Node): boolean {
  switch (node.type) {
    case 'true':
    case 'false':
    case 'none':
      return true;
    // Not an f-string nor bytes (the measuring script takes neither).
    case 'string':
      return !/^[a-z]*[fb]/i.test(node.text) && !node.namedChildren.some((c) => c?.type === 'interpolation');
    case 'concatenated_string':
      return node.namedChildren.every((c) => !!c && isLiteral(c));
    case 'unary_operator':
      return /^[-+]/.test(node.text) && !!node.namedChildren[0] && /^(integer|float)$/.test(node.namedChildren[0].type) && !/j$/i.test(node.text);
    case 'integer':
    case 'float':
      return !/j$/i.test(node.text);
    case 'parenthesized_expression':
      return node.namedChildren.length === 1 && isLiteral(node.namedChildren[0]!);
    case 'tuple':
    case 'list':
      return node.namedChildren.every((c) => !!c && (isExtraNode(c) || isLiteral(c)));
    default:
      return false;
  }
}

/** Keyword arguments that would download weights: such a call is not built (nor measured). */
function downloads(name: string, value: Node): boolean {
  if (name === 'pretrained' || name === 'progress') return name === 'pretrained' && value.type !== 'false' && value.type !== 'none';
  return (name === 'weights' || name === 'weights_path') && value.type !== 'none';
}

/**
 * The calls of the file's script code (the top level, `if __name__ == '__main__':`, functions named
 * like script steps: test(), main()) that build a model of the file that needs arguments
 * (`ShuffleNetV2(net_size=0.5)`), or call a model class's class method (`Net.from_name('b0')`),
 * with literal arguments only; each text once, in source order.
 */
function constructionCalls(rootNode: Node, models: Map<string, 'needs arguments' | 'model class'>): Node[] {
  const found: Node[] = [];
  const texts = new Set<string>();
  const visit = (node: Node, script: boolean) => {
    if (node.type === 'function_definition' || node.type === 'class_definition' || node.type === 'lambda') {
      const name = node.childForFieldName('name')?.text ?? '';
      const isScript = node.type === 'function_definition' && node.parent?.type !== 'block' ? SCRIPT_STEP.test(name) : false;
      const top = node.type === 'function_definition' && atTopLevel(node);
      if (!(top && isScript)) return;
      script = true;
    }
    if (script && node.type === 'call') {
      const fn = node.childForFieldName('function');
      const args = node.childForFieldName('arguments');
      let wanted = false;
      if (fn?.type === 'identifier') wanted = models.get(fn.text) === 'needs arguments';
      else if (fn?.type === 'attribute') {
        const object = fn.childForFieldName('object');
        wanted = object?.type === 'identifier' && models.has(object.text);
      }
      if (wanted && args?.type === 'argument_list') {
        const ok = args.namedChildren.every((a) => {
          if (!a || isExtraNode(a)) return true;
          if (a.type === 'keyword_argument') {
            const value = a.childForFieldName('value');
            return !!value && isLiteral(value) && !downloads(a.childForFieldName('name')?.text ?? '', value);
          }
          return isLiteral(a);
        });
        if (ok && !texts.has(node.text)) {
          texts.add(node.text);
          found.push(node);
        }
      }
    }
    for (const child of node.namedChildren) if (child) visit(child, script);
  };
  visit(rootNode, true);
  return found;
}

/** The `# sepconv: call EXPR` comment of the file whose expression is `text` (where its CodeLens goes). */
function commentNode(root: Node, text: string): Node | undefined {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.type === 'comment') {
      if (CALL_COMMENT.exec(node.text)?.[1] === text) return node;
      continue;
    }
    for (let i = node.childCount - 1; i >= 0; i--) stack.push(node.child(i)!);
  }
  return undefined;
}

/** A definition at the top level of its file (decorated or not). */
function atTopLevel(node: Node): boolean {
  const parent = node.parent?.type === 'decorated_definition' ? node.parent.parent : node.parent;
  return parent?.type === 'module';
}

/** Arguments that keep a builder from downloading anything: weights='imagenet' -> None, pretrained=True -> False. */
function overridesOf(defaults: Map<string, Value>): Map<string, Value> {
  const out = new Map<string, Value>();
  const weights = defaults.get('weights');
  if (weights?.k === 'str') out.set('weights', { k: 'none' });
  const pretrained = defaults.get('pretrained');
  if (pretrained?.k === 'bool' && pretrained.v) out.set('pretrained', { k: 'bool', v: false });
  return out;
}

/**
 * A model's input: the declared shape, else 1 x (the first conv's in_channels) x the default size
 * (or 1 x in_features when a Linear comes first), the first in the order the modules were
 * registered. Unknown when that first layer cannot be told.
 */
function modelInput(it: Interpreter, model: Value): Value {
  const framework = frameworkOf(it, model);
  const declared = it.options.declaredInput;
  if (declared || framework === 'keras') return it.lib.modelInput(framework);
  const [h, w] = it.options.defaultInputSize;
  const seen = new Set<Value>();
  const find = (m: Value): Value | undefined => {
    if (seen.has(m)) return undefined;
    seen.add(m);
    if (m.k === 'layer') {
      const type = m.layer.cls.split('.').pop()!;
      const spatial = convSpatialDims(type);
      if (spatial) {
        // A 1-D or 3-D conv takes the default height for each of its dimensions (as it does when applied).
        const c = m.layer.args.in_channels;
        if (c?.k === 'int') return { k: 'tensor', t: { framework: 'torch', shape: [1, c.v, ...(spatial === 2 ? [h, w] : Array<number>(spatial).fill(h))] } };
        return {
          k: 'tensor',
          t: {
            framework: 'torch',
            reason: `the model's input channels are the first conv's in_channels, which is not known${c?.k === 'unknown' ? ` (${c.reason})` : ''}`,
          },
        };
      }
      if (type === 'Linear') {
        const f = m.layer.args.in_features;
        if (f?.k === 'int') return { k: 'tensor', t: { framework: 'torch', shape: [1, f.v] } };
        return { k: 'tensor', t: { framework: 'torch', reason: "the model's input is the first Linear's in_features, which is not known" } };
      }
      if (m.layer.args.__tainted__)
        return {
          k: 'tensor',
          t: { framework: 'torch', reason: `the model's first layer is not known (${(m.layer.args.__tainted__ as { reason: string }).reason})` },
        };
      for (const c of m.layer.children ?? []) {
        const r = find(c);
        if (r) return r;
      }
      return undefined;
    }
    if (m.k === 'obj') {
      if (m.base) {
        const r = find({ k: 'layer', layer: m.base });
        if (r) return r;
      }
      for (const v of m.attrs.values()) {
        if (v.k === 'unknown' && /not followed/.test(v.reason))
          return { k: 'tensor', t: { framework: 'torch', reason: `the model's first layer is not known (${v.reason})` } };
        if (v.k === 'layer' || (v.k === 'obj' && isModule(it, v))) {
          const r = find(v);
          if (r) return r;
        }
      }
      // A module of parameters of its own and no conv or Linear (F.conv2d with its own weight, a
      // norm of its own) may be what takes the input: a layer registered after it does not say it.
      if ([...m.attrs.values()].some((v) => v.k === 'tensor' && it.lib.parameters.has(v.t)))
        return { k: 'tensor', t: { framework: 'torch', reason: `the model's input is taken first by ${m.cls.name}, whose parameters are its own` } };
      return undefined;
    }
    return undefined;
  };
  // The input is the default size; its channels are those of the first layer that forward()
  // applies to it (the first registered conv or Linear says them to operations that do not).
  const first = find(model);
  const hint = first?.k === 'tensor' ? first.t.shape : undefined;
  return { k: 'tensor', t: { framework: 'torch', pending: [h, w], ...(hint ? { hint } : {}) } };
}

function isModuleClass(it: Interpreter, v: Value & { k: 'class' }): boolean {
  return it.libraryBases(v.cls).some((b) => it.lib.isModuleBase(b));
}

function collect(
  runs: Run[],
  failures: Map<number, { site: SiteRef; reason: string; certain?: boolean }>,
  error: string | undefined,
  incomplete: string | undefined,
  unfollowedCalls: ReadonlyMap<number, string>,
): FileEvaluation {
  const bySite = new Map<number, { site: SiteRef; framework: Framework; type: string; instances: LayerInstance[] }>();
  const models: ModelEvaluation[] = [];
  // The top level counts only where no model of the file reaches (as a measurement of the models would).
  const fromEntries = new Set<number>();
  for (const run of runs) if (run.kept && !run.topLevel) for (const i of run.instances) fromEntries.add(i.site.start);
  for (const run of runs) {
    if (!run.kept) continue;
    if (run.topLevel) run.instances = run.instances.filter((i) => !fromEntries.has(i.site.start));
    let params = 0;
    let macs = 0;
    let convs = 0;
    let unknowns = 0;
    // A layer applied twice (shared weights) has its MACs twice, its parameters once.
    const counted = new Set<number>();
    for (const i of run.instances) {
      // Known figures, or the parameters of a layer known never to be applied (no MACs).
      const known = i.macs !== undefined && i.params !== undefined && i.output !== undefined;
      if (i.params !== undefined && (known || i.neverApplied)) {
        if (!counted.has(i.layerId)) params += i.params;
        counted.add(i.layerId);
        if (known) macs += i.macs!;
      } else unknowns++;
      if (!CONV_LAYER_TYPES.has(i.type)) continue;
      convs++;
      let entry = bySite.get(i.site.start);
      if (!entry) bySite.set(i.site.start, (entry = { site: i.site, framework: i.framework, type: i.type, instances: [] }));
      entry.instances.push(i);
    }
    if (run.node) {
      models.push({
        name: run.name,
        line: run.node.startPosition.row,
        column: run.node.startPosition.column,
        params,
        macs,
        convInstances: convs,
        unknownInstances: unknowns,
        stopped: run.stopped,
        ...(run.unfollowed ? { incomplete: true as const } : {}),
      });
    } else if (convs > 0) {
      const last = run.instances[run.instances.length - 1]!;
      models.push({
        name: '<module>',
        line: last.site.line,
        column: last.site.column,
        params,
        macs,
        convInstances: convs,
        unknownInstances: unknowns,
        stopped: run.stopped,
      });
    }
  }
  const sites: SiteEvaluation[] = [];
  for (const { site, framework, type, instances } of bySite.values()) {
    const groups = new Map<string, InstanceGroup>();
    for (const i of instances) {
      const g: InstanceGroup = {
        count: 1,
        kind: i.kind,
        params: i.params,
        macs: i.macs,
        input: i.input,
        output: i.output,
        weight: i.weight,
        separable: i.separable,
        reason: i.reason,
        ...(i.neverApplied ? { neverApplied: i.neverApplied } : {}),
      };
      const key = JSON.stringify([g.kind, g.params, g.macs, g.input, g.output, g.weight, g.reason]);
      const found = groups.get(key);
      if (found) found.count++;
      else groups.set(key, g);
    }
    const failed = failures.get(site.start);
    const failure = failed && !failed.certain ? failed.reason : undefined;
    const unfollowed = unfollowedCalls.get(site.start);
    const partial =
      incomplete ??
      (failure
        ? `a model that builds this layer could not be evaluated: ${failure}`
        : unfollowed
          ? `code that may build more of it is not followed: ${unfollowed}`
          : undefined);
    sites.push({ site, framework, type, count: instances.length, groups: [...groups.values()], ...(partial ? { incomplete: partial } : {}) });
  }
  for (const [start, { site, reason }] of failures) {
    if (bySite.has(start)) continue;
    // A site that only a failed run reached: no figures.
    sites.push({ site, framework: 'torch', type: '?', count: 0, groups: [], reason });
  }
  sites.sort((a, b) => a.site.start - b.site.start);
  const entries = runs
    .filter((r) => !r.topLevel)
    .map((r): EntryEvaluation => ({ name: r.name, kept: r.kept, ...(r.stopped || r.note ? { note: r.stopped ?? r.note } : {}) }));
  return { sites, models, entries, error };
}
