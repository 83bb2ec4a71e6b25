/**
 * `sepconv cost`: the cost of a model, as a table or JSON.
 *   --model M.json|PRESET   the cost model of shared/cost.ts, layer by layer
 *   --model X.onnx          the imported graph, node by node (onnxCost.ts)
 *   FILE.py                 every conv call site of a Python file, read from the code (pythonCost.ts);
 *                           with --json --models, the totals of each model the file builds too
 *   FILE.py --measure       the same, measured by running it with PyTorch or Keras (measure.ts)
 */
import { parseArgs } from 'node:util';
import { CONVENTIONS, DTYPES, costModel, type Convention, type Dtype, type ModelCost } from '../shared/cost';
import { formatBytes, formatCount, formatInteger, formatPercent, formatShape } from '../shared/format';
import { resolveModel } from '../shared/spec';
import { UsageError, parsePositiveIntegers, pickOption } from './arguments';
import { isOnnxModel, loadModel } from './modelArgument';
import { onnxCostJson, renderOnnxCost } from './onnxCost';
import { tableColumns, terminalSafe, type CliOutput } from './terminal';

/** The per-layer table and the totals, as the terminal shows them. */
export function renderCostTable(name: string, cost: ModelCost): string {
  const flopsLabel = 'FLOPs (2xMACs)';
  const header = ['#', 'layer', 'output', 'params', 'MACs', flopsLabel, 'traffic', 'FLOP/B'];
  const rows = cost.layers.map((l) => [
    String(l.index),
    l.label,
    formatShape(l.outShape),
    formatInteger(l.params),
    formatInteger(l.macs),
    formatInteger(l.flops),
    formatBytes(l.trafficBytes),
    l.intensity.toFixed(1),
  ]);
  const t = cost.total;
  rows.push([
    '',
    'total',
    formatShape(cost.outputShape),
    formatInteger(t.params),
    formatInteger(t.macs),
    formatInteger(t.flops),
    formatBytes(t.trafficBytes),
    t.intensity.toFixed(1),
  ]);
  const { line, rule } = tableColumns([header, ...rows], 3);
  const out = [`${terminalSafe(name, true)}: input ${formatShape(cost.inputShape)}, convention ${cost.convention}, dtype ${cost.dtype}`, line(header), rule];
  rows.forEach((r, i) => {
    if (i === rows.length - 1) out.push(rule);
    out.push(line(r));
  });
  out.push('');
  out.push(
    `params ${formatCount(t.params)}, MACs ${formatCount(t.macs)}, FLOPs ${formatCount(t.flops)} (FLOPs = 2 x MACs), weights ${formatBytes(t.weightBytes)}`,
  );
  const roles = t.macsByRole;
  const share = (v: number) => (t.macs > 0 ? formatPercent(v / t.macs) : '0%');
  out.push(
    `MACs by kind: depthwise ${share(roles.depthwise)}, pointwise ${share(roles.pointwise)}, standard ${share(roles.standard)}, grouped ${share(roles.grouped)}, linear ${share(roles.linear)}, other ${share(roles.other)}`,
  );
  if (cost.pairs.length > 0) {
    const s = t.withStandardConvs;
    out.push(
      `${cost.pairs.length} depthwise-separable pair(s); with standard convs instead: params ${formatCount(s.params)}, MACs ${formatCount(s.macs)} (separable = ${formatPercent(t.macs / s.macs)} of the MACs)`,
    );
  }
  return out.join('\n');
}

function costJson(name: string, cost: ModelCost): unknown {
  return {
    name,
    convention: cost.convention,
    dtype: cost.dtype,
    input_shape: cost.inputShape,
    output_shape: cost.outputShape,
    layers: cost.layers.map((l) => ({
      index: l.index,
      type: l.type,
      label: l.label,
      input_shape: l.inShape,
      output_shape: l.outShape,
      params: l.params,
      macs: l.macs,
      flops: l.flops,
      weight_bytes: l.weightBytes,
      activation_bytes: l.activationBytes,
      traffic_bytes: l.trafficBytes,
      intensity: l.intensity,
      macs_by_kind: l.macsByRole,
    })),
    modules: cost.leaves.map((l) => ({
      key: l.key,
      label: l.label,
      role: l.role,
      weight_shape: l.weightShape ?? null,
      output_shape: l.outShape,
      params: l.params,
      macs: l.macs,
      flops: l.flops,
    })),
    separable_pairs: cost.pairs.map((p) => ({
      layer: p.layerIndex,
      depthwise: p.dwKey,
      pointwise: p.pwKey,
      separable: p.separable,
      standard: p.standard,
      reduction: p.reduction,
      formula: p.formula,
    })),
    total: {
      params: cost.total.params,
      macs: cost.total.macs,
      flops: cost.total.flops,
      weight_bytes: cost.total.weightBytes,
      activation_bytes: cost.total.activationBytes,
      traffic_bytes: cost.total.trafficBytes,
      intensity: cost.total.intensity,
      macs_by_kind: cost.total.macsByRole,
      with_standard_convs: cost.total.withStandardConvs,
    },
  };
}

/** Runs `sepconv cost ARGS`; returns the exit code. Bad arguments and files throw (main() prints them). */
export async function runCostCommand(args: string[], io: CliOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'input-shape': { type: 'string' },
      'input-size': { type: 'string' },
      convention: { type: 'string' },
      dtype: { type: 'string' },
      json: { type: 'boolean', default: false },
      models: { type: 'boolean', default: false },
      measure: { type: 'boolean', default: false },
      python: { type: 'string' },
      call: { type: 'string', multiple: true },
      entry: { type: 'string', multiple: true },
      root: { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  const json = values.json ?? false;
  const convention = pickOption<Convention>(values.convention, CONVENTIONS, 'torchinfo', '--convention');
  const dtype = pickOption<Dtype>(values.dtype, DTYPES, 'fp32', '--dtype');
  if (positionals.length > 1) throw new UsageError(`cost takes one Python file, got ${positionals.length}`);
  if (positionals.length > 0) {
    const file = positionals[0]!;
    if (values.model) throw new UsageError('give either a Python file or --model, not both');
    if (values.measure) {
      const timeout = values.timeout === undefined ? 120 : Number(values.timeout);
      if (!(timeout > 0)) throw new UsageError(`--timeout is a number of seconds above 0, got ${JSON.stringify(values.timeout)}`);
      const inputShape = values['input-shape'] === undefined ? undefined : parsePositiveIntegers(values['input-shape'], '--input-shape');
      const { runMeasureCommand } = await import('./measure');
      return runMeasureCommand(file, { json, python: values.python, inputShape, calls: values.call, entries: values.entry, root: values.root, timeout }, io);
    }
    const inputSize = values['input-size'] === undefined ? [224, 224] : parsePositiveIntegers(values['input-size'], '--input-size', [2]);
    // The whole input, for models whose input is not N,C,H,W (1-D audio nets: N,L or N,C,L).
    const inputShape = values['input-shape'] === undefined ? undefined : parsePositiveIntegers(values['input-shape'], '--input-shape', [2, 3, 4, 5]);
    if (inputShape?.some((d) => d > 1 << 24)) throw new UsageError(`--input-shape dimensions are at most ${1 << 24}, got ${values['input-shape']}`);
    const { runPythonCostCommand } = await import('./pythonCost');
    return runPythonCostCommand(
      file,
      {
        json,
        models: values.models ?? false,
        convention,
        dtype,
        inputSize: inputSize as [number, number],
        calls: values.call,
        ...(inputShape ? { inputShape } : {}),
      },
      io,
    );
  }
  if (!values.model) throw new UsageError('cost needs --model M.json|PRESET|X.onnx or a Python file');
  const inputShape = values['input-shape'] === undefined ? undefined : parsePositiveIntegers(values['input-shape'], '--input-shape', [4]);
  if (isOnnxModel(values.model) && (values.convention !== undefined || values.dtype !== undefined)) {
    throw new UsageError("--convention and --dtype do not apply to an .onnx model: its params are the file's weights and its MACs the weight multiply-adds");
  }
  const model = await loadModel(values.model, { note: io.err, inputShape });
  if (model.kind === 'onnx') {
    io.out(json ? JSON.stringify(onnxCostJson(model.imported), null, 2) : renderOnnxCost(model.imported));
    return 0;
  }
  const resolved = resolveModel(model.spec, { inputShape });
  const cost = costModel(resolved, { convention, dtype });
  io.out(json ? JSON.stringify(costJson(resolved.name, cost), null, 2) : renderCostTable(resolved.name, cost));
  return 0;
}
