// Regenerates test/corpus/truth/*.json: runs media/python/measure.py on every model file of
// test/corpus/corpus.json, with PyTorch (Debian's python3-torch 1.13) or Keras 3 (a virtual environment).
//
//   node scripts/corpusTruth.mjs [--torch-python /usr/bin/python3] [--keras-python .venv-keras/bin/python] [--only TEXT] [--timeout S]
//
// The Keras interpreter defaults to $SEPCONV_KERAS_PYTHON; without one the Keras files keep the
// truth they have. Make one with: python3 -m venv .venv-keras && .venv-keras/bin/pip install keras jax
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpus = path.join(root, 'test/corpus');
const measureScript = path.join(root, 'media/python/measure.py');

const { values } = parseArgs({
  options: {
    'torch-python': { type: 'string', default: process.env.SEPCONV_TORCH_PYTHON ?? '/usr/bin/python3' },
    'keras-python': { type: 'string', default: process.env.SEPCONV_KERAS_PYTHON },
    only: { type: 'string' },
    // Seconds one file may take: Keras builds EfficientNetB0-B7 layer by layer on 2 busy cores.
    timeout: { type: 'string', default: '2400' },
  },
});
const TIMEOUT_S = Number(values.timeout);

/** The truth file of a corpus file: its path with '/' as '__'. */
export function truthPath(file) {
  return path.join(corpus, 'truth', `${file.replace(/\.py$/, '').replaceAll('/', '__')}.json`);
}

const manifest = JSON.parse(fs.readFileSync(path.join(corpus, 'corpus.json'), 'utf8'));
fs.mkdirSync(path.join(corpus, 'truth'), { recursive: true });
let failures = 0;
for (const entry of manifest.files) {
  if (values.only && !entry.file.includes(values.only)) continue;
  const python = entry.framework === 'keras' ? values['keras-python'] : values['torch-python'];
  if (!python) {
    console.log(`${entry.file}: kept (no Keras interpreter: --keras-python or SEPCONV_KERAS_PYTHON)`);
    continue;
  }
  const args = [measureScript, path.join(corpus, entry.file), '--root', corpus, '--framework', entry.framework, '--timeout', String(TIMEOUT_S)];
  if (entry.input) args.push('--input', entry.input.join(','));
  for (const call of entry.call ?? []) args.push('--call', call);
  const started = Date.now();
  const run = spawnSync(python, args, {
    cwd: corpus,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: (TIMEOUT_S + 30) * 1000,
    env: { ...process.env, KERAS_BACKEND: process.env.KERAS_BACKEND ?? 'jax', PYTHONDONTWRITEBYTECODE: '1', CUDA_VISIBLE_DEVICES: '' },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  let result;
  try {
    result = JSON.parse(run.stdout);
  } catch {
    console.log(`${entry.file}: FAILED (exit ${run.status}${run.signal ? `, ${run.signal}` : ''}) ${run.error?.message ?? ''}\n${run.stderr.slice(-2000)}`);
    failures++;
    continue;
  }
  if (result.error && !result.entries) {
    console.log(`${entry.file}: FAILED ${result.error.message}`);
    failures++;
    continue;
  }
  const truth = { file: entry.file, settings: { input: entry.input ?? null, call: entry.call ?? null }, ...result };
  delete truth.file; // measure.py's own "file" is the same path, relative to the corpus
  fs.writeFileSync(truthPath(entry.file), `${JSON.stringify({ file: entry.file, ...truth }, null, 1)}\n`);
  const measured = result.entries.filter((e) => e.status === 'measured').map((e) => e.name);
  const other = result.entries.filter((e) => e.status === 'partial' || e.status === 'failed').map((e) => `${e.name}: ${e.reason}`);
  if (result.error) {
    // Kept: PyTorch itself cannot build this file's models; the truth records why.
    console.log(`${entry.file}: no model could be built, recorded as such: ${result.error.message}`);
    continue;
  }
  console.log(
    `${entry.file}: ${result.sites.length} sites from ${measured.join(', ') || 'no complete model'} (${seconds} s)${other.length ? `; ${other.join('; ')}` : ''}`,
  );
}
process.exitCode = failures ? 1 : 0;
