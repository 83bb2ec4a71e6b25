import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

/** CONTRIBUTING.md's library example ("The engine as a library"), as a user would paste it into an .mjs file next to dist/. */
const LIBRARY_EXAMPLE = `
import { forward, initWeights, resolveModel } from ${JSON.stringify(join(root, 'dist', 'engine.mjs'))};
const model = { layers: [{ type: 'DepthwiseSeparable', in_channels: 3, out_channels: 32, stride: 2 }] };
const input = { shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32).fill(0.5) };
const weights = initWeights(resolveModel(model, { inputShape: input.shape }), { seed: 42 });
const { output, backend } = await forward(model, weights, input, { backend: 'cpu' });
console.log(JSON.stringify({ shape: output.shape, backend }));
`;

describe('dist/engine.mjs, the engine library', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['esbuild.mjs', '--only=engine', '--no-typecheck'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  // Node 20.19+ guesses the module kind of a .js file in a package without "type" and warns on every
  // import; with detection off it cannot load an ES module named .js at all.
  for (const flags of [[], ['--no-experimental-detect-module']]) {
    it(`runs CONTRIBUTING.md's library example with node ${flags.join(' ') || '(default flags)'} and prints no warning`, () => {
      const run = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', LIBRARY_EXAMPLE], { cwd: root, encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const result = JSON.parse(run.stdout) as { shape: number[]; backend: string };
      expect(result.shape).toEqual([1, 32, 16, 16]);
      expect(result.backend).toMatch(/^cpu/);
    });
  }
});
