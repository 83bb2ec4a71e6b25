// `npm run package`: builds the production bundles and makes the VSIX files with @vscode/vsce:
// one per platform, each carrying only its own Dawn binary from the `webgpu` package, and a
// universal one without Dawn (CPU engine and the webview's WebGPU). Then checks every VSIX.
//
// Usage: node scripts/package.mjs [--targets linux-x64,universal] [--skip-build] [--out DIR]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkVsix, listVsix } from './vsixContents.mjs';

const root = resolve(fileURLToPath(import.meta.url), '../..');

/** VS Code target -> the folder of node_modules/webgpu/dist that holds its dawn.node. */
export const TARGETS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'win32-x64': 'win32-x64',
  'darwin-arm64': 'darwin-universal',
  'darwin-x64': 'darwin-universal',
  universal: undefined,
};

function option(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function ignoreFileFor(target) {
  const base = readFileSync(join(root, '.vscodeignore'), 'utf8').trimEnd();
  const dawn = TARGETS[target];
  const extra = dawn ? ['!node_modules/webgpu/package.json', '!node_modules/webgpu/index.js', `!node_modules/webgpu/dist/${dawn}/**`] : [];
  const path = join(tmpdir(), `sepconv-vscodeignore-${target}-${process.pid}`);
  writeFileSync(path, `${base}\n${extra.join('\n')}\n`);
  return path;
}

export function packageTarget(target, outDir) {
  const { version, name } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const file = join(outDir, `${name}-${target}-${version}.vsix`);
  const ignoreFile = ignoreFileFor(target);
  const args = ['vsce', 'package', '--ignoreFile', ignoreFile, '--out', file, '--allow-missing-repository'];
  if (target !== 'universal') args.push('--target', target);
  try {
    execFileSync('npx', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, SEPCONV_PREBUILT: '1' } });
  } finally {
    rmSync(ignoreFile, { force: true });
  }
  return file;
}

async function main() {
  const targets = (option('--targets') ?? Object.keys(TARGETS).join(',')).split(',');
  for (const t of targets) if (!(t in TARGETS)) throw new Error(`unknown target ${t} (known: ${Object.keys(TARGETS).join(', ')})`);
  const outDir = resolve(option('--out') ?? join(root, 'out'));
  mkdirSync(outDir, { recursive: true });
  if (!process.argv.includes('--skip-build')) execFileSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: root, stdio: 'inherit' });
  let failed = false;
  for (const target of targets) {
    const file = packageTarget(target, outDir);
    const entries = listVsix(file);
    const problems = checkVsix(entries, target, TARGETS[target]);
    const mb = (statSync(file).size / 1e6).toFixed(2);
    console.log(`${file}: ${entries.length} files, ${mb} MB${problems.length ? '' : ', contents ok'}`);
    for (const p of problems) console.error(`  ${p}`);
    failed ||= problems.length > 0;
  }
  if (failed) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
