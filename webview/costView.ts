/**
 * The cost view: the per-layer table (params, MACs, FLOPs, traffic, intensity, measured time),
 * the depthwise vs pointwise vs standard bars and the roofline with the measured steps.
 */
import { CONVENTIONS, DTYPE_BYTES, DTYPES, type Convention, type Dtype, type ModelCost } from '../src/shared/cost';
import { formatCount, formatPercent } from '../src/shared/format';
import type { RunResult } from '../src/shared/protocol';
import { elementCount } from '../src/shared/tensor';
import { drawBars, drawRoofline, formatSi, themeColours, type BarGroup, type RooflineDevice, type RooflinePoint } from './charts';
import { COST_COLUMNS, costRows, formatRow, timingByModule, type CostRow } from './costTable';
import { DEVICE_PRESETS } from './devicePresets';
import { clear, h, labelled, select } from './dom';

export interface CostViewSettings {
  convention: Convention;
  dtype: Dtype;
  device: string;
  customPeakGflops: number;
  customBandwidthGbs: number;
}

const ROLE_SERIES: Record<string, number> = { depthwise: 0, pointwise: 1, standard: 2, grouped: 3 };

export class CostView {
  private cost: ModelCost | undefined;
  private run: RunResult | undefined;
  private readonly summary = h('p', { className: 'cost-summary', 'aria-live': 'polite' });
  private readonly table = h('table', { className: 'cost-table', id: 'cost-table' });
  private readonly bars = h('canvas', { role: 'img', 'aria-label': 'MACs of the depthwise and pointwise convs and of the standard conv they replace' });
  private readonly roofline = h('canvas', { role: 'img', 'aria-label': 'Roofline with the measured steps' });
  private readonly rooflineNote = h('p', { className: 'muted' });

  constructor(
    private readonly root: HTMLElement,
    private settings: CostViewSettings,
    private readonly changed: (settings: CostViewSettings) => void,
  ) {
    const update = (patch: Partial<CostViewSettings>) => {
      this.settings = { ...this.settings, ...patch };
      this.changed(this.settings);
    };
    const deviceNames = [...DEVICE_PRESETS.map((d) => d.name), 'Custom'];
    const peak = h('input', {
      type: 'number',
      min: 0.001,
      step: 'any',
      value: settings.customPeakGflops,
      id: 'custom-peak',
      onchange: () => update({ customPeakGflops: Number(peak.value) || 1 }),
    });
    const bandwidth = h('input', {
      type: 'number',
      min: 0.001,
      step: 'any',
      value: settings.customBandwidthGbs,
      id: 'custom-bandwidth',
      onchange: () => update({ customBandwidthGbs: Number(bandwidth.value) || 1 }),
    });
    root.append(
      h(
        'div',
        { className: 'row controls' },
        labelled(
          'Convention',
          select(CONVENTIONS, settings.convention, (convention) => update({ convention }), { id: 'convention' }),
          'torchinfo counts bias; fvcore/thop does not; flop_counter reports FLOPs = 2 x MACs',
        ),
        labelled(
          'Data type',
          select(DTYPES, settings.dtype, (dtype) => update({ dtype }), { id: 'dtype' }),
          'bytes per value for traffic and intensity',
        ),
      ),
      this.summary,
      h('div', { className: 'table-wrap' }, this.table),
      h('h3', {}, 'Depthwise + pointwise vs the standard conv they replace (MACs)'),
      this.bars,
      h('h3', {}, 'Roofline'),
      h(
        'div',
        { className: 'row controls' },
        labelled(
          'Device',
          select(deviceNames, settings.device, (device) => update({ device }), { id: 'roofline-device' }),
        ),
        labelled('Peak GFLOP/s', peak),
        labelled('Bandwidth GB/s', bandwidth),
      ),
      this.roofline,
      this.rooflineNote,
    );
  }

  show(cost: ModelCost | undefined, run: RunResult | undefined, settings: CostViewSettings): void {
    this.cost = cost;
    this.run = run;
    this.settings = settings;
    this.renderTable();
    this.drawCharts();
  }

  private renderTable(): void {
    clear(this.table);
    const cost = this.cost;
    if (!cost) {
      this.summary.textContent = 'Fix the model to see its costs.';
      return;
    }
    const measured = this.run ? timingByModule(this.run.featureMaps, this.run.timings) : undefined;
    const rows = costRows(cost, measured);
    const { total } = cost;
    const saving = total.withStandardConvs.macs > 0 ? 1 - total.macs / total.withStandardConvs.macs : 0;
    this.summary.textContent =
      `${formatCount(total.params)} params, ${formatCount(total.macs)} MACs, ${formatCount(total.flops)} FLOPs (${cost.convention}, ${cost.dtype}).` +
      (cost.pairs.length
        ? ` With standard convs instead of the ${cost.pairs.length} separable pair(s): ${formatCount(total.withStandardConvs.macs)} MACs; the separable model saves ${formatPercent(saving)}.`
        : '');
    this.table.appendChild(
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          COST_COLUMNS.map((c, i) => h('th', { scope: 'col', className: i >= 2 ? 'num' : undefined }, c)),
        ),
      ),
    );
    const body = h('tbody', {});
    for (const row of rows) body.appendChild(this.row(row));
    this.table.appendChild(body);
  }

  private row(row: CostRow): HTMLTableRowElement {
    const cells = formatRow(row);
    const raw = [undefined, undefined, row.params, row.macs, row.flops, row.trafficBytes, row.intensity, row.ms];
    return h(
      'tr',
      { className: `row-${row.kind}${row.role ? ` role-${row.role}` : ''}`, 'data-id': row.id },
      cells.map((text, i) =>
        i === 0
          ? h('th', { scope: 'row' }, text)
          : h('td', { className: i >= 2 ? 'num' : undefined, 'data-value': raw[i] === undefined ? undefined : String(raw[i]) }, text),
      ),
    );
  }

  /** Redraws the charts (also when the theme changes). */
  drawCharts(): void {
    const width = Math.max(320, Math.min(900, this.root.clientWidth - 8 || 640));
    const colours = themeColours();
    const cost = this.cost;
    const groups: BarGroup[] = (cost?.pairs ?? []).map((pair) => {
      const dw = cost!.leaves.find((l) => l.key === pair.dwKey)!;
      const pw = cost!.leaves.find((l) => l.key === pair.pwKey)!;
      return {
        label: `#${pair.layerIndex} ${pair.inChannels}→${pair.outChannels} ${pair.kernel.join('x')}`,
        values: [
          { name: 'depthwise', value: dw.macs, text: formatCount(dw.macs) },
          { name: 'pointwise', value: pw.macs, text: formatCount(pw.macs) },
          { name: 'standard conv', value: pair.standard.macs, text: `${formatCount(pair.standard.macs)} (x${(1 / pair.reduction).toFixed(1)})` },
        ],
      };
    });
    if (groups.length === 0 && cost) {
      // A model without separable pairs (the plain conv): show its standard convs and their separable replacement.
      for (const leaf of cost.leaves.filter((l) => l.role === 'standard' && l.weightShape && l.weightShape[2]! * l.weightShape[3]! > 1)) {
        const [out, inPerGroup, kh, kw] = leaf.weightShape!;
        const positions = leaf.outShape[2]! * leaf.outShape[3]! * leaf.outShape[0]!;
        const dwMacs = inPerGroup! * kh! * kw! * positions;
        const pwMacs = inPerGroup! * out! * positions;
        groups.push({
          label: `#${leaf.layerIndex} ${leaf.label}`,
          values: [
            { name: 'depthwise (replacement)', value: dwMacs, text: formatCount(dwMacs) },
            { name: 'pointwise (replacement)', value: pwMacs, text: formatCount(pwMacs) },
            { name: 'standard conv', value: leaf.macs, text: formatCount(leaf.macs) },
          ],
        });
      }
    }
    if (groups.length) drawBars(this.bars, groups, colours, width);
    this.bars.hidden = groups.length === 0;

    const device = this.device();
    const points: RooflinePoint[] = [];
    if (cost && this.run) {
      const timing = new Map(this.run.timings.map((t) => [t.key, t.ms]));
      for (const map of this.run.featureMaps) {
        const ms = timing.get(map.key);
        const leaves = map.leafKeys.map((k) => cost.leaves.find((l) => l.key === k)).filter((l) => l !== undefined);
        const flops = leaves.reduce((a, l) => a + l.flops, 0);
        if (!ms || !flops || leaves.length === 0) continue;
        const traffic =
          (elementCount(leaves[0]!.inShape) + elementCount(leaves[leaves.length - 1]!.outShape)) * DTYPE_BYTES[cost.dtype] +
          leaves.reduce((a, l) => a + l.weightBytes, 0);
        points.push({ label: map.label, intensity: flops / traffic, flopsPerSecond: flops / (ms / 1000), series: ROLE_SERIES[map.role] ?? 3 });
      }
    }
    drawRoofline(this.roofline, device, points, colours, width);
    this.rooflineNote.textContent = points.length
      ? `Points: measured steps of the last run on ${this.run!.device} (blue depthwise, orange pointwise, red standard). Best: ${formatSi(Math.max(...points.map((p) => p.flopsPerSecond)))}FLOP/s.`
      : 'Run the model to place its measured steps on the roofline.';
  }

  private device(): RooflineDevice {
    const preset = DEVICE_PRESETS.find((d) => d.name === this.settings.device);
    return preset ?? { name: 'Custom', peakFlops: this.settings.customPeakGflops * 1e9, bandwidth: this.settings.customBandwidthGbs * 1e9 };
  }
}
