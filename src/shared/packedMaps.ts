/**
 * A host run's feature maps as they cross to the page: every map's preview and ranges are views
 * into one ArrayBuffer. VS Code passes each ArrayBuffer of a webview message as an argument of its
 * own, and a message with hundreds of them (a network of 179 steps has 358) loses some on the way
 * (they arrive as undefined); one buffer also saves the per-buffer cost of every hop. The page
 * gives each map its own buffers again ({@link unpackRunResult}) before it paints them.
 *
 * On its way to the page (the panel's message) that buffer is also compressed
 * ({@link compressRunResult}, deflate): previews of ReLU outputs and drawings are mostly runs of
 * equal bytes (MobileNetV1's first three blocks on the "shapes" drawing: 3.0 MB become 69 KB), and
 * over a remote connection every byte crosses the network and each process on the way.
 *
 * This module imports neither `vscode` nor the DOM.
 */
import { inflateRaw as inflate } from './inflate';
import type { RunResult, WireFeatureMap } from './protocol';

/** A feature map whose preview and ranges are views into the buffer shared by the run's maps. */
export type PackedFeatureMap = Omit<WireFeatureMap, 'preview' | 'ranges'> & { preview: Uint8Array; ranges: Float32Array };
export type PackedRunResult = Omit<RunResult, 'featureMaps'> & { featureMaps: PackedFeatureMap[] };

/**
 * Views of one buffer for maps of the given sizes: every map's ranges first (float32 views need
 * 4-byte offsets), then every preview. The buffer is `spare(bytes)` when that gives one of the
 * size, else new.
 */
export function packedViews<B extends ArrayBufferLike = ArrayBuffer>(
  sizes: ReadonlyArray<{ rangeFloats: number; previewBytes: number }>,
  spare?: (bytes: number) => B | undefined,
): Array<{ ranges: Float32Array<B | ArrayBuffer>; preview: Uint8Array<B | ArrayBuffer> }> {
  const rangeBytes = sizes.reduce((sum, s) => sum + 4 * s.rangeFloats, 0);
  const bytes = rangeBytes + sizes.reduce((sum, s) => sum + s.previewBytes, 0);
  // A buffer of an earlier run, or one the caller makes (at least `bytes`; the caller fills every
  // view): new memory costs its first writes.
  const given = spare?.(bytes);
  const buffer: B | ArrayBuffer = given && given.byteLength >= bytes ? given : new ArrayBuffer(bytes);
  let rangesAt = 0;
  let previewAt = rangeBytes;
  return sizes.map(({ rangeFloats, previewBytes }) => {
    const views = { ranges: new Float32Array(buffer, rangesAt, rangeFloats), preview: new Uint8Array(buffer, previewAt, previewBytes) };
    rangesAt += 4 * rangeFloats;
    previewAt += previewBytes;
    return views;
  });
}

/** Copies the maps' previews and ranges into one buffer (see {@link packedViews}). */
export function packFeatureMaps(maps: readonly WireFeatureMap[]): PackedFeatureMap[] {
  const views = packedViews(maps.map((m) => ({ rangeFloats: m.ranges.byteLength / 4, previewBytes: m.preview.byteLength })));
  return maps.map((map, i) => {
    const { ranges, preview } = views[i]!;
    ranges.set(new Float32Array(map.ranges));
    preview.set(new Uint8Array(map.preview));
    return { ...map, preview, ranges };
  });
}

/** Where a map's preview and ranges lie in the run's (decompressed) buffer, bytes. */
export type CompressedFeatureMap = Omit<WireFeatureMap, 'preview' | 'ranges'> & {
  previewAt: number;
  previewBytes: number;
  rangesAt: number;
  rangesBytes: number;
};
/** A host run as the panel sends it: the maps' buffer compressed with raw deflate. */
export type CompressedRunResult = Omit<RunResult, 'featureMaps'> & { featureMaps: CompressedFeatureMap[]; mapsDeflated: ArrayBuffer; mapsBytes: number };

export function isCompressedRunResult(result: PackedRunResult | CompressedRunResult): result is CompressedRunResult {
  return (result as CompressedRunResult).mapsDeflated instanceof ArrayBuffer;
}

/**
 * The run with its maps' buffer compressed by `deflateRaw`, or undefined when the maps do not share
 * one buffer (then the answer goes as it is).
 */
export async function compressRunResult(
  result: PackedRunResult,
  deflateRaw: (bytes: Uint8Array) => Promise<Uint8Array>,
): Promise<CompressedRunResult | undefined> {
  const buffers = new Set(result.featureMaps.flatMap((m) => [m.preview.buffer, m.ranges.buffer]));
  if (buffers.size !== 1) return undefined;
  const buffer = [...buffers][0]!;
  // The views' extent: a buffer of whole pages (the engine worker's, see forkSafe.ts) may be longer.
  const used = usedBytes(result.featureMaps);
  const deflated = await deflateRaw(new Uint8Array(buffer, 0, used));
  const featureMaps = result.featureMaps.map(({ preview, ranges, ...map }) => ({
    ...map,
    previewAt: preview.byteOffset,
    previewBytes: preview.byteLength,
    rangesAt: ranges.byteOffset,
    rangesBytes: ranges.byteLength,
  }));
  const mapsDeflated =
    deflated.byteOffset === 0 && deflated.byteLength === deflated.buffer.byteLength ? (deflated.buffer as ArrayBuffer) : new Uint8Array(deflated).buffer;
  return { ...result, featureMaps, mapsDeflated, mapsBytes: used };
}

/** Bytes up to the end of the last view of the maps' buffer. */
function usedBytes(maps: readonly PackedFeatureMap[]): number {
  return maps.reduce((end, m) => Math.max(end, m.preview.byteOffset + m.preview.byteLength, m.ranges.byteOffset + m.ranges.byteLength), 0);
}

/**
 * The maps in an ArrayBuffer of their own, for an answer sent as it is (not compressed): a
 * SharedArrayBuffer does not cross a webview message.
 */
export function plainPackedMaps(maps: readonly PackedFeatureMap[]): PackedFeatureMap[] {
  if (maps.every((m) => m.preview.buffer instanceof ArrayBuffer && m.ranges.buffer instanceof ArrayBuffer)) return [...maps];
  const views = packedViews(maps.map((m) => ({ rangeFloats: m.ranges.length, previewBytes: m.preview.byteLength })));
  return maps.map((m, i) => {
    const { ranges, preview } = views[i]!;
    ranges.set(m.ranges);
    preview.set(m.preview);
    return { ...m, ranges, preview };
  });
}

/**
 * Inflates a run's maps' buffer (inflate.ts): into `into` when it is given and large enough (the
 * page's worker keeps one: new memory costs its first writes, more than the inflating itself),
 * else into a new array. A few ms for the 3.0 MB of previews MobileNetV1's first blocks make.
 */
export function inflateMaps(bytes: ArrayBuffer, size: number, into?: Uint8Array): Uint8Array {
  try {
    return into && into.length >= size ? inflate(new Uint8Array(bytes), size, into.subarray(0, size)) : inflate(new Uint8Array(bytes), size);
  } catch (error) {
    throw new Error(`the host's feature maps: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A typed array's bytes as an ArrayBuffer of their own (the page transfers them to its worker). */
function own(view: ArrayBufferView | ArrayBuffer, what: string): ArrayBuffer {
  if (view instanceof ArrayBuffer) return view;
  if (!ArrayBuffer.isView(view)) throw new Error(`the host's answer has no ${what}`);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
}

/** Where to put `bytes` of a map's preview or ranges: a new buffer by default; the page's worker reuses those of earlier runs. */
export type MapBufferSource = (bytes: number) => ArrayBuffer;
const newBuffer: MapBufferSource = (bytes) => new ArrayBuffer(bytes);

/**
 * The maps of a compressed answer, each preview and ranges copied out of the inflated buffer
 * (`inflated`: exactly the answer's `mapsBytes`) into a buffer of its own from `buffers`. Offsets
 * and sizes are checked against the inflated buffer.
 */
export function unpackMaps(maps: readonly CompressedFeatureMap[], inflated: Uint8Array, buffers: MapBufferSource = newBuffer): WireFeatureMap[] {
  const copy = (at: number, bytes: number, what: string): ArrayBuffer => {
    if (!Number.isSafeInteger(at) || !Number.isSafeInteger(bytes) || at < 0 || bytes < 0 || at + bytes > inflated.length)
      throw new Error(`the host's answer places the ${what} outside its buffer`);
    const out = buffers(bytes);
    if (out.byteLength !== bytes) throw new Error(`internal: a buffer of ${out.byteLength} bytes for the ${bytes} of the ${what}`);
    new Uint8Array(out).set(inflated.subarray(at, at + bytes));
    return out;
  };
  return maps.map(({ previewAt, previewBytes, rangesAt, rangesBytes, ...map }) => ({
    ...map,
    preview: copy(previewAt, previewBytes, `preview of ${map.key}`),
    ranges: copy(rangesAt, rangesBytes, `ranges of ${map.key}`),
  }));
}

/**
 * The page's form of a host run: each map's preview and ranges in buffers of their own. A
 * compressed answer is inflated first. (The page hands compressed answers to its worker, which
 * does this with buffers it reuses: see `unpack` in webview/engineWorker.ts.)
 */
export async function unpackRunResult(result: PackedRunResult | CompressedRunResult): Promise<RunResult> {
  if (isCompressedRunResult(result)) {
    const { mapsDeflated, mapsBytes, featureMaps, ...rest } = result;
    return { ...rest, featureMaps: unpackMaps(featureMaps, inflateMaps(mapsDeflated, mapsBytes)) };
  }
  return {
    ...result,
    featureMaps: result.featureMaps.map((map) => ({
      ...map,
      preview: own(map.preview, `preview of ${map.key}`),
      ranges: own(map.ranges, `ranges of ${map.key}`),
    })),
  };
}
