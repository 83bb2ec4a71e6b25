/**
 * `sepconv cost --model X.onnx`: the cost of an imported ONNX graph, node by node, at the
 * model's input shape (or --input-shape). Params are the file's weight tensors the graph uses
 * (convolution, linear and normalisation weights; not BatchNorm running statistics nor shape
 * constants); MACs count weight multiply-adds (conv, transposed conv, linear), without bias.
 */
import { formatCount, formatInteger, formatShape } from '../shared/format';
import type { OnnxImport } from '../io/onnxImport';
import { tableColumns, terminalSafe } from './terminal';

/** The JSON form of an imported model's cost. */
export function onnxCostJson(imported: OnnxImport): unknown {
  const total = { params: 0, macs: 0, flops: 0 };
  const layers = imported.nodes.map((n) => {
    total.params += n.params;
    total.macs += n.macs;
    total.flops += 2 * n.macs;
    return {
      name: n.name,
      type: n.type,
      output_shape: n.outputShapes.length === 1 ? n.outputShapes[0] : n.outputShapes,
      params: n.params,
      macs: n.macs,
      flops: 2 * n.macs,
    };
  });
  return {
    name: imported.spec.name,
    format: 'onnx',
    opset: imported.opset,
    producer: imported.producer,
    input_shape: imported.inputShape,
    outputs: imported.spec.outputs,
    layers,
    total,
    warnings: imported.warnings,
    ...(imported.unsupported ? { unsupported: imported.unsupported } : {}),
  };
}

/** The terminal form: one line per node with weights or MACs, then the totals. */
export function renderOnnxCost(imported: OnnxImport): string {
  const rows = imported.nodes
    .filter((n) => n.params > 0 || n.macs > 0)
    .map((n) => [n.name, n.type, formatShape(n.outputShapes[0]!), formatInteger(n.params), formatInteger(n.macs)]);
  const header = ['node', 'type', 'output', 'params', 'MACs'];
  const { line } = tableColumns([header, ...rows], 3);
  const params = imported.nodes.reduce((s, n) => s + n.params, 0);
  const macs = imported.nodes.reduce((s, n) => s + n.macs, 0);
  const out = [
    `${terminalSafe(imported.spec.name, true)}: ONNX opset ${imported.opset}, input ${formatShape(imported.inputShape)}, ${imported.nodes.length} nodes`,
    line(header),
    ...rows.map(line),
    '',
  ];
  out.push(`params ${formatCount(params)} (${formatInteger(params)}), MACs ${formatCount(macs)}, FLOPs ${formatCount(2 * macs)} (FLOPs = 2 x MACs)`);
  for (const w of imported.warnings) out.push(`warning: ${w}`);
  if (imported.unsupported) out.push(`stopped: ${imported.unsupported.message}; the nodes above it are costed`);
  return out.join('\n');
}
