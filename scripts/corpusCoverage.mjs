// The static figures of `sepconv cost FILE.py --json` against the measured truth of the corpus
// (test/corpus/truth, made by scripts/corpusTruth.mjs), file by file and site by site.
//
//   node scripts/corpusCoverage.mjs [--only TEXT] [--verbose]     (after `node esbuild.mjs`)
//
// Prints the coverage table (also `npm run bench -- --corpus`). test/unit/pythonCorpus.test.ts
// runs the same check and fails on any wrong figure.
//
// A static site is matched to the truth by file, 1-based line and column, and family (conv,
// linear, batchnorm, pool). Every figure it gives is checked:
// - a top-level params / macs / input_shape / output_shape must be the value every measured
//   instance of the site has;
// - each entry of `instances` must equal a measured configuration in every figure it gives, and its
//   count, when the entry gives all four figures, must be that configuration's count.
// A figure at a site the truth never built (a class no entry point constructs) is "unchecked".
// Coverage counts the conv sites the truth measured completely (shapes known), built by a call in
// the file itself or through a library block (Conv2dNormActivation), not through another file's class:
// - a single-configuration site is right when params, output shape and MACs are all right;
// - a multi-instance site is right when its instances are the measured configurations, counts included.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const corpusDir = path.join(root, 'test/corpus');
const FIGURES = ['params', 'macs', 'input_shape', 'output_shape'];

/** The model files of the corpus with their settings and measured truth. */
export function loadCorpus() {
  const manifest = JSON.parse(fs.readFileSync(path.join(corpusDir, 'corpus.json'), 'utf8'));
  return manifest.files.map((entry) => {
    const truthFile = path.join(corpusDir, 'truth', `${entry.file.replace(/\.py$/, '').replaceAll('/', '__')}.json`);
    const truth = fs.existsSync(truthFile) ? JSON.parse(fs.readFileSync(truthFile, 'utf8')) : null;
    return { ...entry, truthFile, truth };
  });
}

/** Runs `node dist/cli.js cost FILE --json` (or $SEPCONV_CLI's) with the file's input setting; the parsed sites. */
export function staticCost(entry) {
  const args = staticCostArgs(entry);
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  return staticCostSites(entry, run);
}

/** The node arguments of `sepconv cost FILE.py --json` for a corpus entry. */
export function staticCostArgs(entry) {
  const cli = process.env.SEPCONV_CLI ? path.resolve(process.env.SEPCONV_CLI) : path.join(root, 'dist/cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`node esbuild.mjs\` first`);
  const args = [cli, 'cost', path.join(corpusDir, entry.file), '--json', '--models'];
  if (entry.input && entry.framework === 'torch') args.push('--input-size', entry.input.slice(-2).join(','));
  // The expressions that build the models, where the file's entries do not: the same setting the truth was measured with.
  for (const call of entry.call ?? []) args.push('--call', call);
  return args;
}

/** The sites a finished `sepconv cost FILE.py --json` printed ({status, signal, stdout, stderr}). */
export function staticCostSites(entry, run) {
  if (run.status !== 0) throw new Error(`sepconv cost ${entry.file} exited ${run.status}${run.signal ? ` (${run.signal})` : ''}: ${run.stderr.slice(-1000)}`);
  const json = JSON.parse(run.stdout);
  const sites = Array.isArray(json) ? json : (json.sites ?? json.layers);
  if (!Array.isArray(sites)) throw new Error(`sepconv cost ${entry.file} --json printed no list of sites`);
  return sites;
}

/** The models' totals a finished `sepconv cost FILE.py --json --models` printed (none from an older CLI). */
export function staticCostModels(entry, run) {
  const json = JSON.parse(run.stdout);
  return Array.isArray(json) ? [] : (json.models ?? []);
}

/**
 * Checks the totals of the models a file builds (what their CodeLens says) against the measured
 * entries of the same name: a model whose every layer instance has figures must have the measured
 * params and MACs; one with instances it could not figure says so, and is not checked.
 * @returns {{ wrong: string[], checked: number, unknown: number }}
 */
export function checkModels(entry, models) {
  const wrong = [];
  let checked = 0;
  let unknown = 0;
  for (const measured of entry.truth?.entries ?? []) {
    if (measured.status !== 'measured' || !Number.isFinite(measured.params) || !Number.isFinite(measured.macs)) continue;
    const ours = models.find((m) => m.name === measured.name);
    if (!ours) continue;
    if (ours.unknown_instances > 0 || ours.stopped || ours.incomplete) {
      unknown++;
      continue;
    }
    checked++;
    if (ours.params !== measured.params || ours.macs !== measured.macs)
      wrong.push(`${entry.file} ${measured.name}: ${ours.params} params, ${ours.macs} MACs; measured ${measured.params} params, ${measured.macs} MACs`);
  }
  return { wrong, checked, unknown };
}

/** conv, linear, batchnorm or pool, from a layer or kind name; null when it is none of them. */
export function familyOf(name) {
  const text = String(name ?? '').toLowerCase();
  if (/conv|depthwise|pointwise|separable|grouped|standard/.test(text)) return 'conv';
  if (/^(linear|dense)$/.test(text)) return 'linear';
  if (/batch ?norm/.test(text)) return 'batchnorm';
  if (/pool/.test(text)) return 'pool';
  return null;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const given = (value) => value !== null && value !== undefined;
const show = (value) => (Array.isArray(value) ? value.join('x') : String(value));

/** The measured sites of one file at (line, column, family), their instances merged. */
function truthIndex(entry) {
  const index = new Map();
  for (const site of entry.truth?.sites ?? []) {
    if (site.file !== entry.file) continue;
    const key = `${site.line}:${site.column}:${site.family}`;
    const hit = index.get(key);
    if (hit) {
      hit.instances = [...hit.instances, ...site.instances];
      hit.via = hit.via ?? site.via;
      hit.viaFile = hit.viaFile ?? site.via_file;
    } else
      index.set(key, {
        line: site.line,
        column: site.column,
        family: site.family,
        layer: site.layer,
        via: site.via ?? null,
        viaFile: site.via_file ?? null,
        instances: site.instances,
      });
  }
  return index;
}

/** Whether every measured instance has all four figures. */
const complete = (instances) => instances.every((i) => FIGURES.every((f) => given(i[f])));

/**
 * Checks one file's static sites against its truth.
 * @returns {{ wrong: string[], unchecked: number, sites: { key: string, single: boolean, counted: boolean, params: boolean, shape: boolean, macs: boolean, right: boolean, given: boolean }[] }}
 */
export function checkFile(entry, staticSites) {
  const truth = truthIndex(entry);
  const wrong = [];
  let unchecked = 0;
  const seen = new Map();
  for (const row of staticSites) {
    const family = familyOf(row.layer) ?? familyOf(row.kind);
    const at = `${entry.file}:${row.line}:${row.column}`;
    let site = family ? truth.get(`${row.line}:${row.column}:${family}`) : undefined;
    if (!site && !family) {
      const candidates = [...truth.values()].filter((s) => s.line === row.line && s.column === row.column);
      if (candidates.length === 1) site = candidates[0];
    }
    const instances = Array.isArray(row.instances) ? row.instances : [];
    const anyFigure = FIGURES.some((f) => given(row[f])) || instances.some((i) => FIGURES.some((f) => given(i[f])));
    if (!site) {
      if (anyFigure) unchecked++;
      continue;
    }
    const label = `${at} ${row.layer ?? row.kind ?? site.layer}`;
    for (const figure of FIGURES) {
      if (!given(row[figure])) continue;
      const values = site.instances.map((i) => i[figure]).filter(given);
      const bad = values.filter((v) => !same(v, row[figure]));
      if (bad.length) wrong.push(`${label}: ${figure} ${show(row[figure])}, measured ${[...new Set(values.map(show))].join(' / ')}`);
    }
    for (const instance of instances) {
      const figures = FIGURES.filter((f) => given(instance[f]));
      if (!figures.length) continue;
      const matches = site.instances.filter((t) => figures.every((f) => !given(t[f]) || same(t[f], instance[f])));
      if (!matches.length) {
        wrong.push(
          `${label}: instance ${figures.map((f) => `${f} ${show(instance[f])}`).join(', ')} was not measured (measured: ${site.instances.map((t) => `${t.count}x ${show(t.params)} params ${show(t.output_shape)}`).join('; ')})`,
        );
        continue;
      }
      if (figures.length === FIGURES.length && given(instance.count) && complete(matches)) {
        const count = matches.reduce((n, t) => n + t.count, 0);
        // Static configurations that differ only in what the truth does not record (the weight's
        // shape: a depthwise 3x1 and 1x3 of equal size) count together, as the truth merged them.
        const alike = instances.filter((j) => given(j.count) && FIGURES.every((f) => given(j[f]) && same(j[f], instance[f])));
        if (alike[0] !== instance) continue;
        const listed = alike.reduce((n, j) => n + j.count, 0);
        if (count !== listed)
          wrong.push(`${label}: ${listed} instances of ${show(instance.params)} params at ${show(instance.output_shape)}, measured ${count}`);
      }
    }
    seen.set(`${site.line}:${site.column}:${site.family}`, row);
  }
  const sites = [];
  for (const [key, site] of truth) {
    // Coverage: conv sites measured completely, built here or through a library block.
    if (site.family !== 'conv' || site.viaFile || !complete(site.instances)) continue;
    const row = seen.get(key);
    const configs = site.instances;
    const single = configs.length === 1;
    const result = { key: `${entry.file}:${key}`, single, given: false, params: false, shape: false, macs: false, right: false };
    if (row) {
      const rowInstances = Array.isArray(row.instances) ? row.instances : [];
      if (single) {
        const t = configs[0];
        const figure = (f) => (given(row[f]) ? row[f] : rowInstances.length === 1 ? rowInstances[0][f] : undefined);
        result.given = FIGURES.some((f) => given(figure(f)));
        result.params = same(figure('params'), t.params);
        result.shape = same(figure('output_shape'), t.output_shape);
        result.macs = same(figure('macs'), t.macs);
        result.right = result.params && result.shape && result.macs;
      } else {
        result.given = rowInstances.length > 0;
        const key3 = (i) => JSON.stringify([i.params, i.macs, i.output_shape]);
        const measured = new Map();
        for (const t of configs) measured.set(key3(t), (measured.get(key3(t)) ?? 0) + t.count);
        const listed = new Map();
        for (const i of rowInstances) listed.set(key3(i), (listed.get(key3(i)) ?? 0) + (i.count ?? 1));
        result.right = measured.size === listed.size && [...measured].every(([k, n]) => listed.get(k) === n);
      }
    }
    sites.push(result);
  }
  return { wrong, unchecked, sites };
}

/** Checks every file; `only` keeps the files whose path contains it. */
export function checkCorpus({ only } = {}) {
  const files = [];
  for (const entry of loadCorpus()) {
    if (only && !entry.file.includes(only)) continue;
    if (!entry.truth) {
      files.push({ file: entry.file, error: `no truth: run node scripts/corpusTruth.mjs` });
      continue;
    }
    try {
      files.push({ file: entry.file, ...checkFile(entry, staticCost(entry)) });
    } catch (error) {
      files.push({ file: entry.file, error: error.message });
    }
  }
  return files;
}

/** The coverage table of checkCorpus's result. */
export function coverageTable(files) {
  const all = files.flatMap((f) => f.sites ?? []);
  const single = all.filter((s) => s.single);
  const multi = all.filter((s) => !s.single);
  const pct = (n, d) => (d ? `${((100 * n) / d).toFixed(1)}%` : '-');
  const count = (list, key) => list.filter((s) => s[key]).length;
  const wrong = files.flatMap((f) => f.wrong ?? []);
  const unchecked = files.reduce((n, f) => n + (f.unchecked ?? 0), 0);
  const errors = files.filter((f) => f.error);
  const lines = [
    `corpus: ${files.length} files, ${all.length} conv sites measured (${single.length} single-configuration, ${multi.length} multi-instance)`,
    '',
    '| sites | count | right | right params | right output shape | right MACs | target |',
    '|---|---|---|---|---|---|---|',
    `| single-configuration | ${single.length} | ${count(single, 'right')} (${pct(count(single, 'right'), single.length)}) | ${count(single, 'params')} | ${count(single, 'shape')} | ${count(single, 'macs')} | 90% |`,
    `| multi-instance | ${multi.length} | ${count(multi, 'right')} (${pct(count(multi, 'right'), multi.length)}) | | | | 80% |`,
    '',
    `wrong figures: ${wrong.length} (must be 0)`,
    `figures at sites no entry point built (unchecked): ${unchecked}`,
  ];
  if (errors.length) lines.push(`files not checked: ${errors.map((f) => `${f.file} (${f.error.split('\n')[0]})`).join('; ')}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const onlyAt = args.indexOf('--only');
  const files = checkCorpus({ only: onlyAt >= 0 ? args[onlyAt + 1] : undefined });
  if (args.includes('--verbose')) {
    for (const f of files) {
      const sites = f.sites ?? [];
      console.log(`${f.file}: ${f.error ?? `${sites.filter((s) => s.right).length}/${sites.length} conv sites right, ${f.wrong.length} wrong`}`);
      for (const w of f.wrong ?? []) console.log(`  wrong: ${w}`);
    }
    console.log('');
  }
  console.log(coverageTable(files));
  const wrong = files.reduce((n, f) => n + (f.wrong?.length ?? 0), 0);
  process.exitCode = wrong > 0 || files.some((f) => f.error) ? 1 : 0;
}
