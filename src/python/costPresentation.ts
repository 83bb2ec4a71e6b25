/**
 * What the hover and the CodeLens say, as plain strings (Markdown for the hover), built from the
 * analysis alone so that it can be tested without VS Code. Command links are `command:` URIs.
 */
import type { ModelSpec } from '../shared/spec';
import { formatCount, formatInteger, formatPercent } from '../shared/format';
import type { Container, LayerCall } from './modelCode';
import type { ContainerEstimate, EstimateSettings, LayerEstimate } from './layerEstimates';
import type { PythonAnalysis } from './pythonAnalysis';
import { canRewrite } from './separableRewrite';

const CONVENTION_NOTE: Record<string, string> = {
  torchinfo: 'torchinfo: bias counted',
  fvcore: 'fvcore/thop: bias not counted',
  flop_counter: 'torch.utils.flop_counter',
};

/** `command:id?[args]`, the form VS Code runs from a trusted Markdown link (every character that could end a link target encoded). */
export function commandUri(command: string, args: unknown[]): string {
  return `command:${command}?${encodeURIComponent(JSON.stringify(args)).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/**
 * Makes the target of a command link. The editor passes a table that keeps the arguments on its side
 * and puts only an id in the link (src/editor/commandLinks.ts); without one, the arguments go in the URI.
 */
export interface CommandLinks {
  target(command: string, args: unknown[]): string;
}

/** Line breaks and other control characters (C0, DEL, C1, bidi and line separators) shown as one space. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ');

/** Document text as Markdown that renders as itself: every ASCII punctuation character backslash-escaped (no link, HTML, entity or autolink can form). */
export function escapeMarkdown(s: string): string {
  return oneLine(s).replace(/[!-/:-@[-`{-~]/g, (c) => `\\${c}`);
}

/** Document text as a code span: fenced by one backtick more than its longest run, so that no text ends it early. */
export function codeSpan(s: string): string {
  const text = oneLine(s);
  if (text.trim() === '') return escapeMarkdown(text);
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  // A space on each side keeps a leading or trailing backtick apart from the fence (and is stripped when shown).
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' ')) ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

const shape = (s: readonly number[]) => s.join('×');
const count = (n: number) => (n >= 1000 ? `${formatInteger(n)} (${formatCount(n)})` : String(n));
/** Keras code reads shapes channels last. */
const shown = (call: LayerCall, s: readonly number[]) => (call.framework === 'keras' && s.length === 4 ? `${shape([s[0]!, s[2]!, s[3]!, s[1]!])} (NHWC)` : shape(s));
const escape = escapeMarkdown;

export interface HoverInput {
  call: LayerCall;
  estimate: LayerEstimate;
  /** The container propagating this layer's input, if any. */
  container?: { info: Container; estimate: ContainerEstimate };
  settings: EstimateSettings;
  /** Arguments of the convert command (document URI and range), when a rewrite is offered. */
  convertArgs?: unknown[];
  /** Makes the command links' targets; the editor's keeps the arguments and links by id. */
  links?: CommandLinks;
}

/** The hover's input for call `index` of an analysis: a Sequential around the call propagates its input (a module does not). */
export function hoverInput(analysis: PythonAnalysis, index: number, settings: EstimateSettings, convertArgs?: unknown[]): HoverInput {
  const call = analysis.code.calls[index]!;
  const at = call.container;
  const info = at === undefined ? undefined : analysis.code.containers[at];
  const sequential = info && (info.kind === 'torch-sequential' || info.kind === 'keras-sequential');
  return { call, estimate: analysis.estimates.layers[index]!, container: sequential ? { info, estimate: analysis.estimates.containers[at!]! } : undefined, settings, convertArgs };
}

/** A single-layer (or single-call) model to open in the playground. */
export function layerModel(estimate: LayerEstimate, name: string): ModelSpec | undefined {
  if (!estimate.specs || !estimate.inShape || estimate.error) return undefined;
  return { name, input_shape: estimate.inShape, layers: estimate.specs };
}

function inputNote(input: HoverInput): string {
  const { estimate, container, settings } = input;
  const [h, w] = settings.defaultInputSize;
  if (estimate.inputSource === 'propagated' && container) {
    const start = container.estimate.inputShape;
    const from = start ? ` from ${shown(input.call, start)}` : '';
    return `propagated through the ${container.info.kind === 'keras-sequential' ? 'Sequential' : 'nn.Sequential'}${from}`;
  }
  if (estimate.inputSource === 'forward') return `propagated through the module's forward() from the default input size ${h}×${w}`;
  if (estimate.inputSource === 'declared') return 'the declared input shape';
  const note = estimate.note ? ` (${escape(estimate.note)})` : '';
  return `default input size ${h}×${w} (setting sepconv.defaultInputSize), batch 1${note}`;
}

/** The hover's Markdown, or undefined when nothing about the call is sure. */
export function hoverMarkdown(input: HoverInput): string | undefined {
  const { call, estimate, settings } = input;
  const lines: string[] = [];
  const title = `**${call.framework === 'keras' ? escape(call.type) : `nn.${escape(call.type)}`}**`;
  if (!estimate.cost || !estimate.leaves || !estimate.outShape || !estimate.inShape) {
    const known = call.argList.filter((a) => a.value.kind !== 'symbol' && !a.name.startsWith('#'));
    if (estimate.unresolved.length === 0 && !estimate.error) return undefined;
    if (known.length === 0 && !estimate.error) return undefined;
    lines.push(`${title} · no figures`);
    if (estimate.error) lines.push('', `⚠ ${escape(estimate.error)}`);
    if (estimate.unresolved.length) lines.push('', `Not resolved from the code: ${estimate.unresolved.map(codeSpan).join(', ')}`);
    return lines.join('\n');
  }
  const conv = estimate.conv;
  const kind = conv ? conv.kind : call.type === 'SeparableConv2D' ? 'depthwise separable (dw + pw)' : call.type;
  lines.push(`${title} · ${kind}${conv ? ` ${conv.weightShape[2]}×${conv.weightShape[3]}` : ''}`, '');
  lines.push('| | |', '|---|---|');
  if (conv) lines.push(`| weight | ${shape(conv.weightShape)} |`);
  else for (const leaf of estimate.leaves) if (leaf.weightShape) lines.push(`| weight (${leaf.role}) | ${shape(leaf.weightShape)} |`);
  const cost = estimate.cost;
  lines.push(`| params | ${count(cost.params)} |`);
  lines.push(`| MACs | ${count(cost.macs)} |`);
  lines.push(`| FLOPs (2 × MACs) | ${count(cost.flops)} |`);
  lines.push(`| input | ${shown(call, estimate.inShape)} — ${inputNote(input)} |`);
  lines.push(`| output | ${shown(call, estimate.outShape)} |`);
  const separable = conv?.separable;
  if (separable) {
    lines.push('', `**Depthwise-separable replacement** (dw ${conv.weightShape[2]}×${conv.weightShape[3]} + pw 1×1): ${formatCount(separable.total.params)} params, ${formatCount(separable.total.macs)} MACs — **${formatPercent(separable.saving)} fewer MACs** (1/C_out + 1/(k_h·k_w) = ${separable.formula.toFixed(3)})`);
  }
  if (estimate.pair) {
    const p = estimate.pair;
    lines.push('', `A standard ${p.kernel[0]}×${p.kernel[1]} conv with the same output: ${formatCount(p.standard.params)} params, ${formatCount(p.standard.macs)} MACs; this one needs ${formatPercent(p.reduction)} of its MACs`);
  }
  const links: string[] = [];
  const link = (command: string, args: unknown[]) => (input.links ? input.links.target(command, args) : commandUri(command, args));
  const single = layerModel(estimate, call.type);
  const model = input.container?.estimate.model;
  if (single) links.push(`[Open layer in Playground](${link('sepconv.openPlayground', [{ model: single }])})`);
  if (model && input.container) links.push(`[Open ${input.container.info.kind === 'keras-sequential' ? 'Sequential' : 'nn.Sequential'} in Playground](${link('sepconv.openPlayground', [{ model }])})`);
  if (input.convertArgs && canRewrite(call) && separable) links.push(`[Convert to depthwise separable](${link('sepconv.convertToSeparable', input.convertArgs)})`);
  if (links.length) lines.push('', links.join(' · '));
  lines.push('', `*${CONVENTION_NOTE[settings.convention] ?? settings.convention} · ${settings.dtype}*`);
  return lines.join('\n');
}

/** The CodeLens title over a Sequential or a module, or undefined when none of its layers could be read. */
export function codeLensTitle(container: Container, estimate: ContainerEstimate): string | undefined {
  if (estimate.costedCount === 0) return undefined;
  const t = estimate.total;
  const conv = t.macsByRole.depthwise + t.macsByRole.pointwise + t.macsByRole.standard + t.macsByRole.grouped;
  const share = (n: number) => (t.macs > 0 ? formatPercent(n / t.macs, 0) : '0%');
  const parts = [`${formatCount(t.params)} params`, `${formatCount(t.macs)} MACs`];
  if (conv > 0) parts.push(`depthwise ${share(t.macsByRole.depthwise)} · pointwise ${share(t.macsByRole.pointwise)} · other conv ${share(t.macsByRole.standard + t.macsByRole.grouped)}`);
  const partial = estimate.complete ? '' : ` (${estimate.costedCount} of ${estimate.layerCount} layers read)`;
  const where =
    estimate.forward === true ? ' · shapes through forward()'
    : typeof estimate.forward === 'string' ? ` · each layer at the default input size (forward() not followed: ${estimate.forward})`
    : container.kind === 'torch-module' || container.kind === 'keras-model' ? ' · each layer at the default input size' : '';
  return `${parts.join(' · ')}${partial}${where}`;
}
