/**
 * The `sepconv` command line:
 *   sepconv cost --model M.json|PRESET|X.onnx [--input-shape 1,3,224,224] [--convention torchinfo|fvcore|flop_counter] [--dtype fp32|fp16|int8] [--json]
 *   sepconv cost path/to/model.py [--json] [--input-size 224,224] [--call EXPR]
 *   sepconv cost path/to/model.py --measure [--python PATH] [--input-shape N,C,H,W] [--call EXPR] [--timeout S] [--json]
 *   sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--threads N] [--intermediates DIR]
 *   sepconv presets
 * Errors go to stderr with a non-zero exit code.
 */
import { parseArgs } from 'node:util';
import { CONVENTIONS, DTYPES, costModel, type Convention, type Dtype, type ModelCost } from './shared/cost';
import { LocalFileError, READ_LIMITS, readRegularFile } from './io/localFiles';
import { formatBytes, formatCount, formatInteger, formatPercent, formatShape } from './shared/format';
import { listPresets } from './shared/presets';
import { resolveModel, SpecError, type ModelSpec } from './shared/spec';
import { loadModelArgument } from './cliModel';
import { terminalSafe } from './cliText';

const USAGE = `usage:
  sepconv cost --model M.json|PRESET|X.onnx [--input-shape N,C,H,W] [--convention torchinfo|fvcore|flop_counter] [--dtype fp32|fp16|int8] [--json]
  sepconv cost FILE.py [--json] [--input-size H,W] [--call EXPR] [--convention ...] [--dtype ...]
  sepconv cost FILE.py --measure [--python PATH] [--input-shape N,C,H,W] [--call EXPR] [--entry NAME] [--root DIR] [--timeout S] [--json]
  sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--threads N] [--intermediates DIR] [--verbose]
  sepconv presets [--json]`;

/** A user error: printed without a stack trace. */
export class UsageError extends Error {}


function parseIntegerList(value: string, length: number, what: string): number[] {
  const parts = value.split(/[,x]/).map((p) => Number(p.trim()));
  if (parts.length !== length || !parts.every((p) => Number.isInteger(p) && p >= 1)) {
    throw new UsageError(`${what} must be ${length} positive integers separated by commas, got ${JSON.stringify(value)}`);
  }
  return parts;
}

function pick<T extends string>(value: string | undefined, options: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if (!options.includes(value as T)) throw new UsageError(`${what} must be one of ${options.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** The per-layer table and the totals, as the terminal shows them. */
export function renderCostTable(name: string, cost: ModelCost): string {
  const flopsLabel = 'FLOPs (2xMACs)';
  const header = ['#', 'layer', 'output', 'params', 'MACs', flopsLabel, 'traffic', 'FLOP/B'];
  const rows = cost.layers.map((l) => [String(l.index), l.label, formatShape(l.outShape), formatInteger(l.params), formatInteger(l.macs), formatInteger(l.flops), formatBytes(l.trafficBytes), l.intensity.toFixed(1)]);
  const t = cost.total;
  rows.push(['', 'total', formatShape(cost.outputShape), formatInteger(t.params), formatInteger(t.macs), formatInteger(t.flops), formatBytes(t.trafficBytes), t.intensity.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i >= 3)).join('  ');
  const out = [`${terminalSafe(name, true)}: input ${formatShape(cost.inputShape)}, convention ${cost.convention}, dtype ${cost.dtype}`, line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((r, i) => {
    if (i === rows.length - 1) out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    out.push(line(r));
  });
  out.push('');
  out.push(`params ${formatCount(t.params)}, MACs ${formatCount(t.macs)}, FLOPs ${formatCount(t.flops)} (FLOPs = 2 x MACs), weights ${formatBytes(t.weightBytes)}`);
  const roles = t.macsByRole;
  const share = (v: number) => (t.macs > 0 ? formatPercent(v / t.macs) : '0%');
  out.push(`MACs by kind: depthwise ${share(roles.depthwise)}, pointwise ${share(roles.pointwise)}, standard ${share(roles.standard)}, grouped ${share(roles.grouped)}, linear ${share(roles.linear)}, other ${share(roles.other)}`);
  if (cost.pairs.length > 0) {
    const s = t.withStandardConvs;
    out.push(`${cost.pairs.length} depthwise-separable pair(s); with standard convs instead: params ${formatCount(s.params)}, MACs ${formatCount(s.macs)} (separable = ${formatPercent(t.macs / s.macs)} of the MACs)`);
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
      index: l.index, type: l.type, label: l.label, input_shape: l.inShape, output_shape: l.outShape,
      params: l.params, macs: l.macs, flops: l.flops, weight_bytes: l.weightBytes, activation_bytes: l.activationBytes,
      traffic_bytes: l.trafficBytes, intensity: l.intensity, macs_by_kind: l.macsByRole,
    })),
    modules: cost.leaves.map((l) => ({ key: l.key, label: l.label, role: l.role, weight_shape: l.weightShape ?? null, output_shape: l.outShape, params: l.params, macs: l.macs, flops: l.flops })),
    separable_pairs: cost.pairs.map((p) => ({
      layer: p.layerIndex, depthwise: p.dwKey, pointwise: p.pwKey, separable: p.separable, standard: p.standard, reduction: p.reduction, formula: p.formula,
    })),
    total: {
      params: cost.total.params, macs: cost.total.macs, flops: cost.total.flops, weight_bytes: cost.total.weightBytes,
      activation_bytes: cost.total.activationBytes, traffic_bytes: cost.total.trafficBytes, intensity: cost.total.intensity,
      macs_by_kind: cost.total.macsByRole, with_standard_convs: cost.total.withStandardConvs,
    },
  };
}

async function costCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
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
      measure: { type: 'boolean', default: false },
      python: { type: 'string' },
      call: { type: 'string', multiple: true },
      entry: { type: 'string', multiple: true },
      root: { type: 'string' },
      timeout: { type: 'string' },
    },
  });
  const convention = pick<Convention>(values.convention, CONVENTIONS, 'torchinfo', '--convention');
  const dtype = pick<Dtype>(values.dtype, DTYPES, 'fp32', '--dtype');
  if (positionals.length > 0) {
    if (values.model) throw new UsageError('give either a Python file or --model, not both');
    if (values.measure) {
      const timeout = values.timeout === undefined ? 120 : Number(values.timeout);
      if (!(timeout > 0)) throw new UsageError(`--timeout is a number of seconds above 0, got ${JSON.stringify(values.timeout)}`);
      const inputShape = values['input-shape'] ? values['input-shape'].split(/[,x]/).map((p) => Number(p.trim())) : undefined;
      if (inputShape && !inputShape.every((n) => Number.isInteger(n) && n >= 1)) throw new UsageError(`--input-shape must be positive integers separated by commas, got ${JSON.stringify(values['input-shape'])}`);
      const { runMeasureCommand } = await import('./cliMeasure');
      return runMeasureCommand(positionals[0]!, { json: values.json ?? false, python: values.python, inputShape, calls: values.call, entries: values.entry, root: values.root, timeout });
    }
    const inputSize = values['input-size'] ? parseIntegerList(values['input-size'], 2, '--input-size') : [224, 224];
    const { runPythonCostCommand } = await import('./cliPythonCost');
    return runPythonCostCommand(positionals[0]!, { json: values.json ?? false, convention, dtype, inputSize: inputSize as [number, number], calls: values.call });
  }
  if (!values.model) throw new UsageError('cost needs --model M.json|PRESET or a Python file');
  const inputShape = values['input-shape'] ? parseIntegerList(values['input-shape'], 4, '--input-shape') : undefined;
  if (values.model.toLowerCase().endsWith('.onnx')) {
    if (values.convention !== undefined || values.dtype !== undefined) throw new UsageError('--convention and --dtype do not apply to an .onnx model: its params are the file\'s weights and its MACs the weight multiply-adds');
    const { runOnnxCost } = await import('./cliOnnx');
    return runOnnxCost(values.model, { json: values.json ?? false, inputShape }, out);
  }
  const spec = loadModelArgument(values.model, err) as ModelSpec;
  const model = resolveModel(spec, { inputShape });
  const cost = costModel(model, { convention, dtype });
  out(values.json ? JSON.stringify(costJson(model.name, cost), null, 2) : renderCostTable(model.name, cost));
  return 0;
}

function presetsCommand(args: string[], out: (s: string) => void): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const presets = listPresets();
  if (values.json) {
    out(JSON.stringify(presets, null, 2));
  } else {
    const width = Math.max(...presets.map((p) => p.name.length));
    out(presets.map((p) => `${p.name.padEnd(width)}  ${p.description}`).join('\n'));
  }
  return 0;
}

/** Runs the CLI; returns the exit code. Output and errors go through the given writers (tests pass their own). */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), err: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  // Everything printed may quote a file or an argument: no control character reaches the terminal.
  const [rawOut, rawErr] = [out, err];
  out = (s) => rawOut(terminalSafe(s));
  err = (s) => rawErr(terminalSafe(s));
  if (command !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'cost': return await costCommand(rest, out, err);
      case 'presets': return presetsCommand(rest, out);
      case 'forward': {
        const { runForwardCommand } = await import('./cliForward');
        return await runForwardCommand(rest);
      }
      case undefined: case '-h': case '--help': case 'help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) err(`sepconv: ${error.message}\n${USAGE}`);
    else if (error instanceof SpecError) err(`sepconv: invalid model: ${error.message}`);
    else if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') err(`sepconv: ${error.message}\n${USAGE}`);
    else err(`sepconv: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/**
 * A reader that goes away (`sepconv cost --json | head -1`) closes the pipe: the CLI then stops
 * quietly with status 0, as there is nobody left to tell, instead of an EPIPE stack trace.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exit: (code: number) => void = (code) => process.exit(code)): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') exit(0);
    else throw error;
  });
}

if (require.main === module) {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
