/**
 * The hover and CodeLens texts of evaluated sites (see siteRows.ts), as plain strings (Markdown
 * for the hover) so that they can be tested without VS Code. Every text that comes from the
 * document (callee names, reasons quoting code) is escaped.
 */
import { formatCount, formatInteger, formatPercent } from '../shared/format';
import type { ModelEvaluation } from './codeEvaluation';
import type { InstanceRow, SiteRow } from './siteRows';

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

export interface SiteHoverSettings {
  convention: string;
  dtype: string;
  defaultInputSize: [number, number];
}

const CONVENTION_NOTE: Record<string, string> = {
  torchinfo: 'torchinfo: bias counted',
  fvcore: 'fvcore/thop: bias not counted',
  flop_counter: 'torch.utils.flop_counter',
};

const count = (n: number) => (n >= 1000 ? `${formatInteger(n)} (${formatCount(n)})` : String(n));
const shape = (s: readonly number[] | null | undefined, keras: boolean) => (s ? `${s.join('×')}${keras && s.length === 4 ? ' (NHWC)' : ''}` : '?');
const weight = (w: readonly number[], keras: boolean) => (keras ? `(${w.join(', ')})` : w.join('×'));

/** The hover's Markdown for a site. `convertLink`: a Markdown link offered under a single configuration. */
export function siteHoverMarkdown(row: SiteRow, settings: SiteHoverSettings, convertLink?: string): string {
  const keras = row.framework === 'keras';
  const title = `**${escapeMarkdown(keras ? row.layer : `nn.${row.layer}`)}**${row.code && row.code !== `nn.${row.layer}` && row.code !== row.layer ? ` built by ${codeSpan(row.code)}` : ''}`;
  const lines: string[] = [];
  const known = (i: InstanceRow) => i.params !== null && i.macs !== null && i.output_shape !== null && i.input_shape !== null;
  if (row.instances.length === 0) {
    lines.push(`${title} · no figures`, '', `unknown: ${escapeMarkdown(row.reason ?? 'not known')}`);
    return lines.join('\n');
  }
  if (row.instances.length === 1 && !row.incomplete) {
    const i = row.instances[0]!;
    lines.push(`${title}${i.kind ? ` · ${escapeMarkdown(i.kind)}` : ''}${row.count > 1 ? ` · ${row.count} instances, all alike` : ''}`, '');
    lines.push('| | |', '|---|---|');
    if (i.weight_shape) lines.push(`| weight | ${weight(i.weight_shape, keras)} |`);
    lines.push(`| params | ${i.params === null ? '?' : count(i.params)} |`);
    lines.push(`| MACs | ${i.macs === null ? '?' : count(i.macs)} |`);
    if (i.macs !== null) lines.push(`| FLOPs (2 × MACs) | ${count(2 * i.macs)} |`);
    lines.push(`| input | ${shape(i.input_shape, keras)} |`);
    lines.push(`| output | ${shape(i.output_shape, keras)} |`);
    if (!known(i)) lines.push('', `unknown: ${escapeMarkdown(i.reason ?? row.reason ?? 'not known')}`);
    if (i.separable && known(i)) {
      lines.push(
        '',
        `**Depthwise-separable replacement** (dw + pw 1×1): ${formatCount(i.separable.params)} params, ${formatCount(i.separable.macs)} MACs — **${formatPercent(i.separable.saving)} fewer MACs**`,
      );
      if (convertLink) lines.push('', convertLink);
    }
  } else {
    const totalKnown = row.instances.every(known) && !row.incomplete;
    const sum = (f: (i: InstanceRow) => number) => row.instances.reduce((acc, i) => acc + (i.count ?? 0) * f(i), 0);
    const head = row.incomplete ? `at least ${row.count} instances` : `${row.count} instances`;
    lines.push(`${title} · ${head} in ${row.instances.length} configuration${row.instances.length === 1 ? '' : 's'}`, '');
    if (totalKnown) lines.push(`All instances: ${count(sum((i) => i.params!))} params · ${count(sum((i) => i.macs!))} MACs`, '');
    lines.push('| count | input | output | params | MACs |', '|---|---|---|---|---|');
    for (const i of row.instances) {
      lines.push(
        `| ${i.count === null ? '?' : `${i.count}×`} | ${shape(i.input_shape, keras)} | ${shape(i.output_shape, keras)} | ${i.params === null ? '?' : formatInteger(i.params)} | ${i.macs === null ? '?' : formatCount(i.macs)} |`,
      );
    }
    const reason = row.reason ?? row.instances.find((i) => i.reason)?.reason;
    if (row.unknown && reason) lines.push('', `unknown: ${escapeMarkdown(reason)}`);
  }
  const [h, w] = settings.defaultInputSize;
  lines.push(
    '',
    `*${CONVENTION_NOTE[settings.convention] ?? escapeMarkdown(settings.convention)} · ${escapeMarkdown(settings.dtype)} · a model's input at ${h}×${w} where the code does not give one (sepconv.defaultInputSize)*`,
  );
  return lines.join('\n');
}

/** The CodeLens title over a model class or builder: totals over every instance it builds. */
export function modelLensTitle(model: ModelEvaluation): string | undefined {
  if (model.convInstances === 0 && model.params === 0) return model.stopped ? `${model.name}: not evaluated (${model.stopped})` : undefined;
  const parts = [
    `${formatCount(model.params)} params`,
    `${formatCount(model.macs)} MACs`,
    `${model.convInstances} conv instance${model.convInstances === 1 ? '' : 's'}`,
  ];
  let note = '';
  if (model.unknownInstances > 0) note = ` (${model.unknownInstances} layer instance${model.unknownInstances === 1 ? '' : 's'} without figures, not counted)`;
  if (model.incomplete) note += ' (at least: code that may build more layers is not followed)';
  if (model.stopped) note += ` (stopped: ${model.stopped})`;
  return `${parts.join(' · ')}${note}`;
}
