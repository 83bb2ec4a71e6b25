/**
 * ChannelShuffle: one thread per output float of the NHWC layout; output channel o takes input
 * channel (o % groups) * (C / groups) + o / groups of the same pixel. Padded channels are written 0.
 */
import type { EncodeContext, EncodedDispatch } from './encoding';
import { dispatch1d, groups4, LINEAR_WORKGROUP, type Program } from './program';

const WORKGROUP = 64;

export function channelShuffleProgram(pixels: number, channels: number, groups: number, label: string): Program {
  const cp = groups4(channels) * 4;
  const total = pixels * cp;
  return {
    label,
    shaderKey: 'channelshuffle',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: dispatch1d(Math.ceil(total / WORKGROUP)),
    uniforms: [['C', channels], ['CP', cp], ['G', groups], ['total', total]],
    bindings: [{ name: 'x', access: 'read', element: 'f32' }, { name: 'y', access: 'write', element: 'f32' }],
    body: `
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = ${LINEAR_WORKGROUP} * ${WORKGROUP} + i32(lid);
  if (t >= u.total) { return; }
  let c = t % u.CP;
  if (c >= u.C) { y[t] = 0.0; return; }
  let source = (c % u.G) * (u.C / u.G) + c / u.G;
  y[t] = x[t - c + source];
}`,
  };
}

export function encodeChannelShuffle(ctx: EncodeContext): EncodedDispatch[] {
  const { step, graph } = ctx;
  const node = step.node.attrs;
  if (node.op !== 'channelshuffle') throw new Error(`internal: ${node.key} is not a ChannelShuffle`);
  const [n, c, h, w] = graph.values[step.reads[0]!]!.shape as [number, number, number, number];
  const program = channelShuffleProgram(n * h * w, c, node.groups, ctx.label);
  return [{ program, buffers: [ctx.buffer(step.reads[0]!), ctx.buffer(step.outputs[0]!)] }];
}
