/**
 * The cost table of the playground, and its Markdown and CSV exports: one row per layer, one per
 * conv or linear module inside it, and the total. Pure (no DOM), so the exports and the end-to-end
 * tests use the same rows the page shows.
 */
import type { LeafCost, ModelCost } from '../src/shared/cost';
import { formatBytes, formatCount, formatShape } from '../src/shared/format';
import type { WireFeatureMap, WireTiming } from '../src/shared/protocol';

export interface CostRow {
  kind: 'layer' | 'module' | 'total';
  /** Layer index, or the module's state_dict key. */
  id: string;
  label: string;
  role?: string;
  outShape: string;
  params: number;
  macs: number;
  flops: number;
  trafficBytes: number;
  intensity: number;
  /** Measured, when a run has happened with this model. */
  ms?: number;
}

/** Module keys -> measured ms, each step's time given to the first module of the step. */
export function timingByModule(featureMaps: readonly WireFeatureMap[], timings: readonly WireTiming[]): Map<string, number> {
  const byStep = new Map(timings.map((t) => [t.key, t.ms]));
  const out = new Map<string, number>();
  for (const map of featureMaps) {
    const ms = byStep.get(map.key);
    if (ms !== undefined && map.leafKeys.length > 0) out.set(map.leafKeys[0]!, ms);
  }
  // Steps without a feature map (the engine may time steps it does not return).
  for (const [key, ms] of byStep) if (!featureMaps.some((m) => m.key === key)) out.set(key, ms);
  return out;
}

const WITH_MACS = (leaf: LeafCost) => leaf.macs > 0;

export function costRows(cost: ModelCost, measured?: Map<string, number>): CostRow[] {
  const rows: CostRow[] = [];
  let totalMs: number | undefined;
  for (const layer of cost.layers) {
    const modules = cost.leaves.filter((leaf) => leaf.layerIndex === layer.index);
    const layerMs = measured ? sum(modules.map((m) => measured.get(m.key))) : undefined;
    if (layerMs !== undefined) totalMs = (totalMs ?? 0) + layerMs;
    rows.push({
      kind: 'layer',
      id: String(layer.index),
      label: `#${layer.index} ${layer.label}`,
      outShape: formatShape(layer.outShape),
      ...pick(layer),
      ms: layerMs,
    });
    const shown = modules.filter(WITH_MACS);
    if (shown.length > 1 || (shown.length === 1 && shown[0]!.label !== layer.label)) {
      for (const leaf of shown)
        rows.push({
          kind: 'module',
          id: leaf.key,
          label: leaf.label,
          role: leaf.role,
          outShape: formatShape(leaf.outShape),
          ...pick(leaf),
          ms: measured?.get(leaf.key),
        });
    }
  }
  rows.push({ kind: 'total', id: 'total', label: 'Total', outShape: formatShape(cost.outputShape), ...pick(cost.total), ms: totalMs });
  return rows;
}

function sum(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length ? known.reduce((a, b) => a + b, 0) : undefined;
}

function pick(cost: { params: number; macs: number; flops: number; trafficBytes: number; intensity: number }) {
  return { params: cost.params, macs: cost.macs, flops: cost.flops, trafficBytes: cost.trafficBytes, intensity: cost.intensity };
}

export const COST_COLUMNS = ['Layer', 'Output', 'Params', 'MACs', 'FLOPs', 'Traffic', 'FLOP/byte', 'Measured'] as const;

/** The cells of a row as the table shows them. */
export function formatRow(row: CostRow): string[] {
  return [
    row.label,
    row.outShape,
    formatCount(row.params),
    formatCount(row.macs),
    formatCount(row.flops),
    formatBytes(row.trafficBytes),
    row.intensity.toFixed(1),
    row.ms === undefined ? '' : `${row.ms.toFixed(2)} ms`,
  ];
}

export function costMarkdown(cost: ModelCost, rows: CostRow[], title: string): string {
  const lines = [
    `**${title}**: input ${formatShape(cost.inputShape)}, ${cost.convention} convention, ${cost.dtype}`,
    '',
    `| ${COST_COLUMNS.join(' | ')} |`,
    `|${COST_COLUMNS.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const row of rows) {
    const cells = formatRow(row).map((c) => c.replace(/\|/g, '\\|'));
    if (row.kind === 'module') cells[0] = `&nbsp;&nbsp;${cells[0]}`;
    if (row.kind === 'total') cells[0] = `**${cells[0]}**`;
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** CSV with raw numbers (bytes, counts, ms), one header line. */
export function costCsv(rows: CostRow[]): string {
  const quote = (value: string) => (/[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  const lines = ['kind,id,label,role,output_shape,params,macs,flops,traffic_bytes,flops_per_byte,measured_ms'];
  for (const row of rows) {
    lines.push(
      [
        row.kind,
        row.id,
        row.label,
        row.role ?? '',
        row.outShape,
        row.params,
        row.macs,
        row.flops,
        row.trafficBytes,
        row.intensity.toFixed(4),
        row.ms === undefined ? '' : row.ms.toFixed(4),
      ]
        .map((v) => quote(String(v)))
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
