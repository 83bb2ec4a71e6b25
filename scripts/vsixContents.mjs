// Lists a VSIX (a zip file) from its central directory, and checks that it ships only what runs.
import { readFileSync } from 'node:fs';

/** Every entry of a zip file: { name, compressedSize, size }. */
export function listVsix(path) {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 65_557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${path}: not a zip file (no end of central directory)`);
  const count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== 0x02014b50) throw new Error(`${path}: corrupt central directory at entry ${n}`);
    const compressedSize = view.getUint32(offset + 20, true);
    const size = view.getUint32(offset + 24, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const name = bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8');
    entries.push({ name, compressedSize, size });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

const MB = 1e6;

/**
 * What must not ship: sources, tests, source maps, other platforms' Dawn binaries, dev tooling.
 * Returns a list of problems (empty when the VSIX is clean).
 */
export function checkVsix(entries, target, dawnFolder) {
  const problems = [];
  const files = entries.map((e) => e.name).filter((n) => !n.endsWith('/'));
  const forbidden = [
    [/\.map$/, 'a source map'],
    [/^extension\/(src|webview|test|scripts|\.ci|\.github|\.vscode)\//, 'sources, tests or scripts'],
    [/\.ts$/, 'TypeScript source'],
    [/^extension\/node_modules\/(?!webgpu\/)/, 'a dependency that the bundles already contain'],
    [/(^|\/)(onnxruntime[^/]*|@gutenye)\/|\.(onnx|pt|pth)$/, 'a test-only runtime or model (onnxruntime-node, the PaddleOCR models)'],
    [/^extension\/node_modules\/webgpu\/(build|types\.d\.ts)/, 'Dawn build tooling'],
    [/^extension\/(tsconfig|vitest|esbuild|\.vscode-test)/, 'build configuration'],
    [/^extension\/(out|test-results|dist-test)\//, 'build or test output'],
    // README's images are shown from the repository (vsce rewrites their paths); the sample workspace is `npm start`'s.
    [/^extension\/media\/(screenshots|sample-workspace)\//, "README's screenshots or the development workspace"],
    [/^extension\/CONTRIBUTING\.md$/i, 'the contributors\' guide'],
  ];
  for (const name of files) {
    for (const [pattern, what] of forbidden) if (pattern.test(name)) problems.push(`${name}: ${what} should not ship`);
    const dawn = /^extension\/node_modules\/webgpu\/dist\/([^/]+)\//.exec(name);
    if (dawn && dawn[1] !== dawnFolder) problems.push(`${name}: another platform's Dawn binary (this VSIX is ${target})`);
  }
  for (const needed of ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/engineWorker.js', 'extension/dist/pythonWorker.js', 'extension/dist/modelImportWorker.js', 'extension/dist/webview.js', 'extension/dist/tree-sitter.wasm', 'extension/dist/tree-sitter-python.wasm', 'extension/readme.md', 'extension/LICENSE.txt', 'extension/media/icon.png', 'extension/media/python/measure.py']) {
    if (!files.includes(needed)) problems.push(`${needed} is missing`);
  }
  const dawnEntries = entries.filter((e) => e.name.startsWith('extension/node_modules/webgpu/dist/'));
  if (dawnFolder && !dawnEntries.some((e) => e.name.endsWith('dawn.node'))) problems.push(`the ${dawnFolder} Dawn binary is missing`);
  if (!dawnFolder && dawnEntries.length > 0) problems.push('the universal VSIX must not carry Dawn');
  const dawnCompressed = dawnEntries.reduce((a, e) => a + e.compressedSize, 0);
  const rest = entries.reduce((a, e) => a + e.compressedSize, 0) - dawnCompressed;
  if (rest > 3 * MB) problems.push(`${(rest / MB).toFixed(2)} MB besides Dawn: the limit is 3 MB`);
  return problems;
}
