/**
 * Problems that PyTorch or Keras would raise when the layer is built or first run, found in the
 * code, each on the argument that causes it and with the reason.
 */
import type { LayerCall, ModelCode, Span } from './modelCode';
import type { CodeEstimates } from './layerEstimates';
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

/** The diagnostics of one file. */
export function findDiagnostics(code: ModelCode, estimates: CodeEstimates): PythonDiagnostic[] {
  const out: PythonDiagnostic[] = [];
  code.calls.forEach((call, index) => {
    const estimate = estimates.layers[index];
    if (call.framework === 'torch' && call.type === 'Conv2d') {
      const cin = ints(call.args.in_channels?.value);
      out.push(...groupsProblems(call, cin?.length === 1 ? cin[0] : undefined, 'out_channels', call.args.out_channels?.value, 'nn.Conv2d raises ValueError'));
      const padding = call.args.padding;
      if (padding?.value.kind === 'str' && padding.value.value === 'same' && above1(call.args.stride?.value)) {
        out.push({ span: padding.span, severity: 'error', code: 'same-stride', message: `padding='same' with stride=${showValue(call.args.stride!.value)}: PyTorch does not support 'same' padding for strided convolutions (nn.Conv2d raises ValueError); use an explicit padding such as padding=${samePaddingHint(call)}` });
      }
    }
    if (call.framework === 'keras' && (call.type === 'Conv2D' || call.type === 'DepthwiseConv2D' || call.type === 'SeparableConv2D')) {
      if (call.type === 'Conv2D') out.push(...groupsProblems(call, estimate?.inShape?.[1], 'filters', call.args.filters?.value, 'Keras raises ValueError'));
      const strides = call.args.strides;
      const dilation = call.args.dilation_rate;
      if (strides && dilation && above1(strides.value) && above1(dilation.value)) {
        out.push({ span: strides.span, severity: 'error', code: 'keras-stride-dilation', message: `strides=${showValue(strides.value)} with dilation_rate=${showValue(dilation.value)}: Keras does not support strides > 1 together with dilation_rate > 1 (raises ValueError)` });
      }
    }
    if (estimate?.error && estimate.inputSource === 'propagated' && /in_channels=|num_features=|in_features=/.test(estimate.error)) {
      out.push({ span: call.span, severity: 'warning', code: 'channel-mismatch', message: `${estimate.error}: the layer before it in the Sequential produces ${estimate.inShape?.[1]} channels` });
    }
  });
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
