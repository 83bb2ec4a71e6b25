/**
 * Problems that PyTorch or Keras would raise when the layer is built or first run, found in the
 * code (the arguments as written) and in the evaluation's figures (the channels a layer is given),
 * each on the argument that causes it and with the reason.
 */
import type { LayerCall, ModelCode, Span } from './modelCode';
import type { SiteRow } from './siteRows';
import { showValue, type PyValue } from './pythonValues';

export interface PythonDiagnostic {
  span: Span;
  message: string;
  severity: 'error' | 'warning';
  /** Stable id for the kind of problem. */
  code: 'groups-divide' | 'same-stride' | 'keras-stride-dilation' | 'channel-mismatch';
}

const ints = (v: PyValue | undefined): number[] | undefined => {
  if (v?.kind === 'int') return [v.value];
  if (v?.kind === 'tuple' && v.items.every((i) => i.kind === 'int')) return v.items.map((i) => (i as { value: number }).value);
  return undefined;
};
const above1 = (v: PyValue | undefined) => (ints(v) ?? []).some((x) => x > 1);

function groupsProblems(call: LayerCall, inChannels: number | undefined, outName: string, out: PyValue | undefined, raises: string): PythonDiagnostic[] {
  const groupsArg = call.args.groups;
  const groups = ints(groupsArg?.value);
  if (!groupsArg || !groups || groups.length !== 1 || groups[0]! < 1) return [];
  const g = groups[0]!;
  const found: string[] = [];
  if (inChannels !== undefined && inChannels % g !== 0) found.push(`in_channels=${inChannels}`);
  const o = ints(out);
  if (o?.length === 1 && o[0]! % g !== 0) found.push(`${outName}=${o[0]}`);
  if (found.length === 0) return [];
  return [{ span: groupsArg.span, severity: 'error', code: 'groups-divide', message: `groups=${g} does not divide ${found.join(' nor ')}: ${raises}` }];
}

/** The evaluator's reason for a conv given other channels than its in_channels (see evalLibrary.ts). */
const CHANNEL_MISMATCH = /it would have (\d+) channels, but in_channels is (\d+)/;

/** The input channels every instance of a site agrees on (NCHW: dim 1, NHWC: the last), else undefined. */
function siteInChannels(row: SiteRow | undefined): number | undefined {
  const shape = row?.input_shape;
  if (!shape || shape.length !== 4) return undefined;
  return row.layout === 'NHWC' ? shape[3] : shape[1];
}

/** The diagnostics of one file: `code` is its syntax, `sites` the evaluation's rows (siteRows.ts). */
export function findDiagnostics(code: ModelCode, sites: readonly SiteRow[]): PythonDiagnostic[] {
  const out: PythonDiagnostic[] = [];
  const rows = new Map(sites.map((r) => [r.start, r]));
  for (const call of code.calls) {
    const row = rows.get(call.span.start);
    if (call.framework === 'torch' && call.type === 'Conv2d') {
      const cin = ints(call.args.in_channels?.value);
      out.push(...groupsProblems(call, cin?.length === 1 ? cin[0] : undefined, 'out_channels', call.args.out_channels?.value, 'nn.Conv2d raises ValueError'));
      const padding = call.args.padding;
      if (padding?.value.kind === 'str' && padding.value.value === 'same' && above1(call.args.stride?.value)) {
        out.push({
          span: padding.span,
          severity: 'error',
          code: 'same-stride',
          message: `padding='same' with stride=${showValue(call.args.stride!.value)}: PyTorch does not support 'same' padding for strided convolutions (nn.Conv2d raises ValueError); use an explicit padding such as padding=${samePaddingHint(call)}`,
        });
      }
      const mismatch = row?.instances.map((i) => (i.reason ? CHANNEL_MISMATCH.exec(i.reason) : null)).find(Boolean);
      if (mismatch) {
        out.push({
          span: call.span,
          severity: 'warning',
          code: 'channel-mismatch',
          message: `in_channels=${mismatch[2]}, but the layer before it produces ${mismatch[1]} channels: PyTorch raises RuntimeError in forward()`,
        });
      }
    }
    if (call.framework === 'keras' && (call.type === 'Conv2D' || call.type === 'DepthwiseConv2D' || call.type === 'SeparableConv2D')) {
      if (call.type === 'Conv2D') out.push(...groupsProblems(call, siteInChannels(row), 'filters', call.args.filters?.value, 'Keras raises ValueError'));
      const strides = call.args.strides;
      const dilation = call.args.dilation_rate;
      if (strides && dilation && above1(strides.value) && above1(dilation.value)) {
        out.push({
          span: strides.span,
          severity: 'error',
          code: 'keras-stride-dilation',
          message: `strides=${showValue(strides.value)} with dilation_rate=${showValue(dilation.value)}: Keras does not support strides > 1 together with dilation_rate > 1 (raises ValueError)`,
        });
      }
    }
  }
  return out;
}

/** dilation * (k - 1) / 2 for an odd kernel, the symmetric padding that keeps the size at stride 1. */
function samePaddingHint(call: LayerCall): string {
  const k = ints(call.args.kernel_size?.value);
  const d = ints(call.args.dilation?.value) ?? [1];
  if (!k) return '(k - 1) // 2';
  const pads = (k.length === 1 ? [k[0]!, k[0]!] : k).map((kk, i) => Math.floor(((d.length === 1 ? d[0]! : d[i]!) * (kk - 1)) / 2));
  return pads[0] === pads[1] ? String(pads[0]) : `(${pads.join(', ')})`;
}
