/** Nesting too deep is an error that says so, for JSON specs and Python files, never a stack overflow. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { pythonCostRows } from '../../src/cli/pythonCost';
import { DEFAULT_SETTINGS } from '../../src/python/layerEstimates';
import { MAX_BRACKET_NESTING, pythonNestingProblem } from '../../src/python/nestingDepth';
import { skipReason } from '../../src/python/parseCache';
import { MAX_NESTING, resolveModel, SpecError } from '../../src/shared/spec';
import { ROOT } from './pythonHelpers';

/** A Residual whose body is a Residual ... `depth` deep, around one ReLU. */
function nestedResiduals(depth: number): unknown {
  let layer: unknown = { type: 'ReLU' };
  for (let i = 0; i < depth; i++) layer = { type: 'Residual', body: [layer] };
  return { input_shape: [1, 2, 4, 4], layers: [layer] };
}

describe('a JSON spec nested too deep', () => {
  it('Residual 2,000 deep: "nesting too deep (limit N)" from resolveModel and the CLI', async () => {
    const spec = nestedResiduals(2000);
    expect(() => resolveModel(spec)).toThrow(SpecError);
    expect(() => resolveModel(spec)).toThrow(new RegExp(`\\.body: nesting too deep \\(limit ${MAX_NESTING} nested Residual blocks\\)$`));
    const path = join(mkdtempSync(join(tmpdir(), 'sepconv-nesting-')), 'deep.json');
    writeFileSync(path, JSON.stringify(spec));
    const err: string[] = [];
    expect(await main(['cost', '--model', path], () => undefined, (s) => err.push(s))).toBe(1);
    expect(err.join('\n')).toMatch(/^sepconv: invalid model: layers\[0\](\.body\[0\])+\.body: nesting too deep \(limit 32 nested Residual blocks\)$/);
  });

  it('the limit itself is accepted', () => {
    const model = resolveModel(nestedResiduals(MAX_NESTING));
    expect(model.outputShape).toEqual([1, 2, 4, 4]);
    expect(() => resolveModel(nestedResiduals(MAX_NESTING + 1))).toThrow(/nesting too deep/);
  });
});

describe('a Python file nested too deep', () => {
  const sequentials = (depth: number) => `import torch.nn as nn\nmodel = ${'nn.Sequential('.repeat(depth)}nn.Conv2d(3, 8, 3)${')'.repeat(depth)}\n`;

  it('3,000 nested nn.Sequential: "nesting too deep (limit N)", from the CLI and the editor\'s parse gate', async () => {
    const source = sequentials(3000);
    expect(skipReason(source)).toBe(`nesting too deep (limit ${MAX_BRACKET_NESTING} nested brackets)`);
    await expect(pythonCostRows('deep.py', source, DEFAULT_SETTINGS, [ROOT])).rejects.toThrow(/^not read: nesting too deep \(limit 200 nested brackets\)$/);
  });

  it('nesting Python accepts is read', async () => {
    const { sites } = await pythonCostRows('deep.py', sequentials(MAX_BRACKET_NESTING - 1), DEFAULT_SETTINGS, [ROOT]);
    expect(sites.map((r) => [r.layer, r.params])).toEqual([['Conv2d', 224]]);
  });

  it('counts brackets and indentation as Python does: not in strings or comments', () => {
    const deep = '('.repeat(300);
    expect(pythonNestingProblem(`x = "${deep}"\ny = '''\n${deep}\n'''\n# ${deep}\nz = r'\\'${deep}'\n`)).toBeUndefined();
    expect(pythonNestingProblem(`x = ${'['.repeat(201)}`)).toBe('nesting too deep (limit 200 nested brackets)');
    const indented = (levels: number) => Array.from({ length: levels + 1 }, (_, d) => `${' '.repeat(d)}${d === levels ? 'pass' : 'if x:'}`).join('\n');
    expect(pythonNestingProblem(indented(100))).toBeUndefined();
    expect(pythonNestingProblem(indented(101))).toBe('nesting too deep (limit 100 indentation levels)');
    // Lines inside brackets and continued lines do not indent.
    expect(pythonNestingProblem(`x = (\n${Array.from({ length: 300 }, (_, d) => `${' '.repeat(d)}1,`).join('\n')}\n)\n`)).toBeUndefined();
  });
});
