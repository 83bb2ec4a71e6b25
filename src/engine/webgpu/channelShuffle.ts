/**
 * ChannelShuffle: one thread per output float of the NHWC layout; output channel o takes input
 * channel (o % groups) * (C / groups) + o / groups of the same pixel. Padded channels are written 0.
 */
import { featureMaps, inOutBuffers, stepAttrs, type EncodeContext, type EncodedDispatch } from './encoding';
import { groups4, perItemProgram, type Program } from './program';

export function channelShuffleProgram(pixels: number, channels: number, groups: number, label: string): Program {
  const cp = groups4(channels) * 4;
  return perItemProgram({
    label,
    shaderKey: 'channelshuffle',
    uniforms: [
      ['C', channels],
      ['CP', cp],
      ['G', groups],
      ['total', pixels * cp],
    ],
    bindings: [
      { name: 'x', access: 'read', element: 'f32' },
      { name: 'y', access: 'write', element: 'f32' },
    ],
    main: `
  let c = t % u.CP;
  if (c >= u.C) { y[t] = 0.0; return; }
  let source = (c % u.G) * (u.C / u.G) + c / u.G;
  y[t] = x[t - c + source];`,
  });
}

export function encodeChannelShuffle(ctx: EncodeContext): EncodedDispatch[] {
  const node = stepAttrs(ctx, 'channelshuffle', 'a ChannelShuffle');
  const { n, c, h, w } = featureMaps(ctx);
  return [{ program: channelShuffleProgram(n * h * w, c, node.groups, ctx.label), buffers: inOutBuffers(ctx) }];
}
