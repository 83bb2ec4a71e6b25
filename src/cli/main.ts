/**
 * The `sepconv` command line: main() reads the command and hands the rest to its file (cost.ts,
 * forward.ts), with the writers it prints through. Errors go to stderr with a non-zero exit code.
 */
import { parseArgs } from 'node:util';
import { listPresets } from '../shared/presets';
import { SpecError } from '../shared/spec';
import { CliError, UsageError } from './arguments';
import { runCostCommand } from './cost';
import { errorMessage } from './files';
import { endQuietlyOnClosedPipe, processOutput, safeOutput, tableColumns, type CliOutput, type Writer } from './terminal';

export const USAGE = `usage:
  sepconv cost --model M.json|PRESET|X.onnx [--input-shape N,C,H,W] [--convention torchinfo|fvcore|flop_counter] [--dtype fp32|fp16|int8] [--json]
  sepconv cost FILE.py [--json [--models]] [--input-size H,W | --input-shape N,C,H,W] [--call EXPR] [--convention ...] [--dtype ...]
  sepconv cost FILE.py --measure [--python PATH] [--input-shape N,C,H,W] [--call EXPR] [--entry NAME] [--root DIR] [--timeout S] [--json]
  sepconv forward --model M.json|PRESET|X.onnx --input X.npy --output Y.npy [--weights W.safetensors | --init seed:42 | --init filters:sobel] [--backend cpu|webgpu] [--threads N] [--intermediates DIR] [--unfused] [--verbose]
  sepconv presets [--json]`;

function presetsCommand(args: string[], io: CliOutput): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const presets = listPresets();
  if (values.json) {
    io.out(JSON.stringify(presets, null, 2));
  } else {
    const rows = presets.map((p) => [p.name, p.description]);
    io.out(rows.map(tableColumns(rows).line).join('\n'));
  }
  return 0;
}

/** The lines main() prints for an error, and its exit code. */
function reportError(error: unknown): { text: string; code: number } {
  if (error instanceof UsageError) return { text: `sepconv: ${error.message}\n${USAGE}`, code: error.exitCode };
  if (error instanceof CliError) return { text: `sepconv: ${error.message}`, code: error.exitCode };
  if (error instanceof SpecError) return { text: `sepconv: invalid model: ${error.message}`, code: 1 };
  if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    return { text: `sepconv: ${error.message}\n${USAGE}`, code: 1 };
  return { text: `sepconv: ${errorMessage(error)}`, code: 1 };
}

/**
 * Runs the CLI; returns the exit code. Everything is printed through `out` and `err` (tests pass
 * their own), each text escaped for the terminal first: it may quote a file or an argument.
 */
export async function main(argv: string[], out: Writer = processOutput.out, err: Writer = processOutput.err): Promise<number> {
  const io = safeOutput({ out, err });
  const [command, ...rest] = argv;
  if (command !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    io.out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'cost':
        return await runCostCommand(rest, io);
      case 'presets':
        return presetsCommand(rest, io);
      case 'forward': {
        const { runForwardCommand } = await import('./forward');
        return await runForwardCommand(rest, io);
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    const { text, code } = reportError(error);
    io.err(text);
    return code;
  }
}

if (require.main === module) {
  endQuietlyOnClosedPipe(process.stdout);
  endQuietlyOnClosedPipe(process.stderr);
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
