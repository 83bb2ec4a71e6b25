/**
 * A host run's feature maps as they cross to the page: every map's preview and ranges are views
 * into one ArrayBuffer. VS Code passes each ArrayBuffer of a webview message as an argument of its
 * own, and a message with hundreds of them (a network of 179 steps has 358) loses some on the way
 * (they arrive as undefined); one buffer also saves the per-buffer cost of every hop. The page
 * gives each map its own buffers again ({@link unpackRunResult}) before it paints them.
 *
 * This module imports neither `vscode` nor the DOM.
 */
import type { RunResult, WireFeatureMap } from './protocol';

/** A feature map whose preview and ranges are views into the buffer shared by the run's maps. */
export type PackedFeatureMap = Omit<WireFeatureMap, 'preview' | 'ranges'> & { preview: Uint8Array; ranges: Float32Array };
export type PackedRunResult = Omit<RunResult, 'featureMaps'> & { featureMaps: PackedFeatureMap[] };

/** Copies the maps' previews and ranges into one buffer (ranges first: float32 views need 4-byte offsets). */
export function packFeatureMaps(maps: ReadonlyArray<Omit<WireFeatureMap, 'preview' | 'ranges'> & { preview: Uint8Array; ranges: Float32Array }>): PackedFeatureMap[] {
  const rangeBytes = maps.reduce((sum, m) => sum + m.ranges.byteLength, 0);
  const previewBytes = maps.reduce((sum, m) => sum + m.preview.byteLength, 0);
  const buffer = new ArrayBuffer(rangeBytes + previewBytes);
  let rangesAt = 0;
  let previewAt = rangeBytes;
  return maps.map((map) => {
    const ranges = new Float32Array(buffer, rangesAt, map.ranges.length);
    ranges.set(map.ranges);
    rangesAt += map.ranges.byteLength;
    const preview = new Uint8Array(buffer, previewAt, map.preview.length);
    preview.set(map.preview);
    previewAt += map.preview.byteLength;
    return { ...map, preview, ranges };
  });
}

/** A typed array's bytes as an ArrayBuffer of their own (the page transfers them to its worker). */
function own(view: ArrayBufferView | ArrayBuffer, what: string): ArrayBuffer {
  if (view instanceof ArrayBuffer) return view;
  if (!ArrayBuffer.isView(view)) throw new Error(`the host's answer has no ${what}`);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer;
}

/** The page's form of a host run: each map's preview and ranges in buffers of their own. */
export function unpackRunResult(result: PackedRunResult): RunResult {
  return {
    ...result,
    featureMaps: result.featureMaps.map((map) => ({ ...map, preview: own(map.preview, `preview of ${map.key}`), ranges: own(map.ranges, `ranges of ${map.key}`) })),
  };
}
