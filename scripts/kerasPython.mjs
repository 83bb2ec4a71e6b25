// The Python interpreter with Keras 3 and jax that the Keras measurements run with: prints its path.
//
//   node scripts/kerasPython.mjs            (scripts/test.sh runs it before the unit tests)
//
// $SEPCONV_KERAS_PYTHON when it is set, else the virtual environment .venv-keras/ of the repository
// (ignored by git), made once with `python3 -m venv .venv-keras && .venv-keras/bin/pip install keras jax`
// and reused while `import keras, jax` works in it. Making it takes minutes (pip resolves and
// unpacks jax and Keras); a later run only checks the import (seconds).
// Exit status 1, with what to do, when it cannot be made (no python3, no venv module, pip fails).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const KERAS_VENV = path.join(root, '.venv-keras');
export const KERAS_VENV_PYTHON = path.join(KERAS_VENV, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');

/** Whether `python` imports Keras 3 and jax. */
export function hasKeras(python) {
  const run = spawnSync(python, ['-c', 'import keras, jax, sys; sys.exit(0 if int(keras.__version__.split(".")[0]) >= 3 else 1)'], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, KERAS_BACKEND: 'jax' },
  });
  return run.status === 0;
}

/** The interpreter's path; throws with a message saying what failed and what to do. */
export function kerasPython({ log = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const given = process.env.SEPCONV_KERAS_PYTHON;
  if (given) {
    if (!hasKeras(given))
      throw new Error(
        `SEPCONV_KERAS_PYTHON=${given} cannot import Keras 3 and jax: install them for it (pip install keras jax) or unset it to use ${path.relative(root, KERAS_VENV)}/`,
      );
    return given;
  }
  if (fs.existsSync(KERAS_VENV_PYTHON) && hasKeras(KERAS_VENV_PYTHON)) return KERAS_VENV_PYTHON;
  const started = Date.now();
  log(`making ${path.relative(root, KERAS_VENV)}/ (python3 -m venv, pip install keras jax): this takes minutes, once`);
  const steps = [
    ['python3', ['-m', 'venv', '--clear', KERAS_VENV]],
    [KERAS_VENV_PYTHON, ['-m', 'pip', 'install', '--quiet', 'keras', 'jax']],
  ];
  for (const [command, args] of steps) {
    const run = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], timeout: 1_800_000 });
    if (run.error || run.status !== 0) {
      const why = run.error ? run.error.message : `exit status ${run.status}: ${(run.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`;
      throw new Error(
        `cannot make the Keras environment: \`${[command, ...args].join(' ')}\` failed (${why}). The Keras measurement tests need Keras 3 and jax: set SEPCONV_KERAS_PYTHON to a Python that has them, or make ${path.relative(root, KERAS_VENV)}/ by hand`,
      );
    }
  }
  if (!hasKeras(KERAS_VENV_PYTHON)) throw new Error(`${path.relative(root, KERAS_VENV_PYTHON)} was made but cannot import Keras 3 and jax`);
  log(`made ${path.relative(root, KERAS_VENV)}/ in ${Math.round((Date.now() - started) / 1000)} s`);
  return KERAS_VENV_PYTHON;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${kerasPython()}\n`);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
