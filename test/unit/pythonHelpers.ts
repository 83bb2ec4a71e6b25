import { findWasmLocations, loadPythonParser, type PythonParser } from '../../src/python/pythonParser';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test/fixtures/python');
export function parser(): Promise<PythonParser> {
  return loadPythonParser(findWasmLocations([ROOT]));
}
