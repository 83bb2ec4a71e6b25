// How much faster the engine's CPU threads make it, the engine alone (no peers, so a run takes
// seconds, not minutes): the bench's rows prepared at each thread count of --threads (default 1
// and 2), run in interleaved rounds (load from elsewhere spreads over all of them), median
// wall-clock ms per run, input in and output out included, and the speedup over one thread.
// With --steps, the median ms of each step of the layer rows (their depthwise and pointwise convs)
// and of what lies outside the steps (input check and copies, output copy).
//
// On a machine shared with other work, two threads are only faster when two cores are free at
// the same time; `chrt -f 10 node scripts/threadScaling.mjs` (root) runs it at a real-time
// priority for its few seconds.
//
// Usage: node scripts/threadScaling.mjs [--only=A,...,net] [--threads=1,2] [--reps=N] [--steps] [--no-build]
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchRows } from '../test/bench/networks.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = option('only')?.split(',');
const threadCounts = (option('threads') ?? '1,2').split(',').map(Number);
const reps = Number(option('reps') ?? 40);
const withSteps = args.includes('--steps');
if (!threadCounts.every((t) => Number.isInteger(t) && t >= 1) || !(reps >= 1))
  throw new Error('threadScaling: --threads takes positive integers, --reps a positive number');

if (!args.includes('--no-build'))
  execFileSync(process.execPath, [join(root, 'esbuild.mjs'), '--only=engine', '--no-typecheck'], { cwd: root, stdio: 'inherit' });
const engine = await import(pathToFileURL(join(root, 'dist', 'engine.mjs')).href);

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms) => (ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

console.log(
  `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
const header = `| Layer | ${threadCounts.map((t) => `${t} thread${t > 1 ? 's' : ''} ms`).join(' | ')} | ${threadCounts
  .slice(1)
  .map((t) => `speedup at ${t}`)
  .join(' | ')} |`;
console.log(header);
console.log(
  `|:---|${threadCounts.map(() => '---:').join('|')}|${threadCounts
    .slice(1)
    .map(() => '---:')
    .join('|')}|`,
);
const stepLines = [];
for (const row of benchRows().filter((r) => !only || only.includes(r.name))) {
  const model = engine.resolveModel(row.spec, { inputShape: row.inputShape });
  const weights = engine.initWeights(model, { seed: 7 });
  const data = Float32Array.from({ length: row.inputShape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % 1000) / 1000);
  const input = { shape: row.inputShape, data };
  const sides = [];
  for (const threads of threadCounts) {
    const session = await engine.prepare(model, weights, { inputShape: row.inputShape, threads });
    for (let i = 0; i < 3; i++) await session.run(input);
    sides.push({ threads, session, wall: [], steps: new Map(), outside: [] });
  }
  for (let round = 0; round < reps; round++) {
    for (const side of sides) {
      const t0 = performance.now();
      const result = await side.session.run(input);
      const wall = performance.now() - t0;
      side.wall.push(wall);
      if (!withSteps) continue;
      // Steps by their label ("Conv2d 3x3 depthwise + ReLU", "Conv2d 1x1 pointwise + ReLU"): a layer row has one of each.
      const byKind = new Map();
      let inside = 0;
      for (const t of result.timings) {
        byKind.set(t.label, (byKind.get(t.label) ?? 0) + t.ms);
        inside += t.ms;
      }
      for (const [label, ms] of byKind) side.steps.set(label, [...(side.steps.get(label) ?? []), ms]);
      side.outside.push(wall - inside);
    }
  }
  const one = median(sides[0].wall);
  console.log(
    `| ${row.label} | ${sides.map((s) => fmt(median(s.wall))).join(' | ')} | ${sides
      .slice(1)
      .map((s) => `${(one / median(s.wall)).toFixed(2)}x`)
      .join(' | ')} |`,
  );
  if (withSteps && row.name !== 'net') {
    for (const side of sides) {
      const parts = [...side.steps].map(([label, ms]) => `${label} ${fmt(median(ms))}`);
      stepLines.push(
        `${row.name} at ${side.threads} thread${side.threads > 1 ? 's' : ''}: ${parts.join(', ')}, outside the steps ${fmt(median(side.outside))} ms`,
      );
    }
  }
  for (const side of sides) side.session.dispose();
}
if (stepLines.length) console.log(`\nMedian ms per step (and outside the steps: input check and copy in, output copy out):\n${stepLines.join('\n')}`);
console.log(
  `\nLoad average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exit(0);
