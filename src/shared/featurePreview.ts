/**
 * Feature map previews: what the page draws of a step's output, one byte per value, scaled per
 * channel between that channel's min and max. The host sends these (and every channel's min and
 * max) instead of the float32 values, a quarter of the bytes; the page asks for the values
 * themselves only when it needs them (the value under the pointer, an export).
 *
 * The byte of a value is the colormap index the page would compute from the float for per-channel
 * normalisation, so a map drawn from its preview has exactly the pixels of one drawn from the floats.
 *
 * This module imports neither `vscode` nor the DOM.
 */

/**
 * The byte of `value` in a channel whose values span [min, max]: 0 at min (and for NaN), 255 at
 * max, rounded to the nearest; 128 for a constant channel.
 */
export function previewByte(value: number, min: number, max: number): number {
  const span = max - min;
  if (!(span > 0)) return 128;
  const index = ((value - min) * (255 / span) + 0.5) | 0;
  return index < 0 ? 0 : index > 255 ? 255 : index;
}

/** The value a preview byte stands for (the middle of its bin; `min` for a constant channel). */
export function previewValue(byte: number, min: number, max: number): number {
  const span = max - min;
  return span > 0 ? min + (byte * span) / 255 : min;
}

/** How a tensor is seen as channels: [1, C, H, W] has C planes of H x W; anything else is one plane. */
export function channelPlanes(shape: readonly number[]): { channels: number; plane: number } {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.length === 4 && shape[0] === 1) return { channels: shape[1]!, plane: shape[2]! * shape[3]! };
  return { channels: 1, plane: count };
}

/** min and max of each channel of a C x plane block: [min0, max0, min1, max1, ...] (NaNs are skipped). */
export function channelRanges(data: Float32Array, channels: number, plane: number): Float32Array {
  const ranges = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    let min = Infinity;
    let max = -Infinity;
    const end = (c + 1) * plane;
    for (let i = c * plane; i < end; i++) {
      const v = data[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges[2 * c] = min;
    ranges[2 * c + 1] = max;
  }
  return ranges;
}

/**
 * The preview bytes of channels [first, first + count) of a C x plane block, given every channel's
 * range (from {@link channelRanges}). `data` holds the channels from `dataFirst` on (0: the whole
 * block). Written into `out` when it is given (count * plane bytes), else into a new array.
 */
export function previewBytes<B extends ArrayBufferLike = ArrayBuffer>(
  data: Float32Array,
  ranges: Float32Array,
  plane: number,
  first: number,
  count: number,
  dataFirst = 0,
  out: Uint8Array<B> = new Uint8Array(count * plane) as Uint8Array<B>,
): Uint8Array<B> {
  if (first < dataFirst || (first + count - dataFirst) * plane > data.length)
    throw new RangeError(`channels [${first}, ${first + count}) are not all in the values given`);
  if (out.length !== count * plane) throw new RangeError(`${out.length} bytes given for ${count} channels of ${plane} values`);
  for (let k = 0; k < count; k++) {
    const c = first + k;
    const min = ranges[2 * c]!;
    const span = ranges[2 * c + 1]! - min;
    const source = (c - dataFirst) * plane;
    const target = k * plane;
    if (!(span > 0)) {
      out.fill(128, target, target + plane);
      continue;
    }
    // previewByte's arithmetic inline: this loop sees every value of a run.
    const scale = 255 / span;
    for (let i = 0; i < plane; i++) {
      let index = ((data[source + i]! - min) * scale + 0.5) | 0;
      if (index < 0) index = 0;
      else if (index > 255) index = 255;
      out[target + i] = index;
    }
  }
  return out;
}

export interface FeaturePreview {
  /** Channels with preview bytes: the first `previewChannels` of the map. */
  previewChannels: number;
  /** One byte per value of those channels, channel after channel. */
  preview: Uint8Array<ArrayBuffer>;
  /** [min, max] of every channel (previewed or not), float32. */
  ranges: Float32Array<ArrayBuffer>;
}

/** Channels of a tensor that get preview bytes: at most `maxChannels` of a [1, C, H, W] map, none of any other shape. */
export function previewedChannels(shape: readonly number[], maxChannels: number): number {
  return shape.length === 4 && shape[0] === 1 ? Math.max(0, Math.min(shape[1]!, maxChannels)) : 0;
}

/**
 * The preview of a tensor: every channel's range, and bytes for at most `maxChannels` channels.
 * Tensors that are not [1, C, H, W] (a classifier's logits) get their range and no bytes: the
 * page draws only image-shaped maps.
 */
export function makePreview(data: Float32Array, shape: readonly number[], maxChannels: number): FeaturePreview {
  const { channels, plane } = channelPlanes(shape);
  const ranges = channelRanges(data, channels, plane) as Float32Array<ArrayBuffer>;
  const previewChannels = previewedChannels(shape, maxChannels);
  return { previewChannels, preview: previewBytes(data, ranges, plane, 0, previewChannels), ranges };
}
