/**
 * `sepconv cost FILE.py --measure`: the exact figures, measured by running the file with PyTorch
 * (or Keras 3) through media/python/measure.py, instead of read from the code.
 */
import * as path from 'node:path';
import { formatCount, formatInteger, formatShape } from '../shared/format';
import { CliError } from './arguments';
import { installFolders } from './files';
import { tableColumns, type CliOutput } from './terminal';
import { findMeasureScript, MeasureError, runMeasure, type MeasuredSite, type MeasureResult } from '../python/measureRunner';

export interface MeasureCommandOptions {
  json: boolean;
  /** Default: $SEPCONV_PYTHON, else python3. */
  python?: string;
  inputShape?: number[];
  calls?: string[];
  entries?: string[];
  root?: string;
  /** Seconds. */
  timeout: number;
}

function siteRow(site: MeasuredSite): string[] {
  const count = site.instances.reduce((n, i) => n + i.count, 0);
  const single = site.instances.length === 1 ? site.instances[0]! : undefined;
  return [
    `${site.line}:${site.column}`,
    site.via ? `${site.layer} (${site.via})` : site.class ? `${site.layer} (${site.class})` : site.layer,
    String(count),
    single ? formatInteger(single.params) : `${site.instances.length} configurations`,
    single ? (single.macs === null ? '?' : formatCount(single.macs)) : formatCount(site.instances.reduce((n, i) => n + (i.macs ?? 0) * i.count, 0)),
    single ? (single.output_shape ? formatShape(single.output_shape) : 'not reached') : '',
  ];
}

/** The sites of the measured file, as a table, then the entry points and what became of them. */
export function renderMeasured(result: MeasureResult): string {
  const header = ['line:col', 'layer', 'built', 'params', 'MACs', 'output'];
  const body = result.sites.filter((s) => s.file === result.file).map(siteRow);
  const { line } = tableColumns([header, ...body]);
  const lines = [header, ...body].map(line);
  const version = result.framework === 'torch' ? `torch ${result.torch}` : `keras ${result.keras} (${result.backend})`;
  lines.push(`(measured with ${version}, Python ${result.python}; MACs as torchinfo counts them; a site with several configurations shows their total MACs)`);
  for (const entry of result.entries) {
    lines.push(`${entry.name}: ${entry.status}${entry.input_shape ? ` at ${formatShape(entry.input_shape)}` : ''}${entry.reason ? ` (${entry.reason})` : ''}`);
  }
  return lines.join('\n');
}

/** Runs the command, printing through `io.out`; returns the exit code. A failed measurement throws a CliError (exit code 2 for bad arguments). */
export async function runMeasureCommand(file: string, options: MeasureCommandOptions, io: CliOutput): Promise<number> {
  const python = options.python ?? process.env.SEPCONV_PYTHON ?? 'python3';
  try {
    const result = await runMeasure({
      python,
      file: path.resolve(file),
      root: options.root ? path.resolve(options.root) : undefined,
      inputShape: options.inputShape,
      calls: options.calls,
      entries: options.entries,
      timeoutMs: options.timeout * 1000,
      script: findMeasureScript(installFolders()),
    });
    io.out(options.json ? JSON.stringify(result, null, 2) : renderMeasured(result));
    return 0;
  } catch (error) {
    if (error instanceof MeasureError) throw new CliError(`${file}: ${error.message}`, error.failure === 'bad-arguments' ? 2 : 1);
    throw error;
  }
}
