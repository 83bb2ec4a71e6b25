/** Placeholder until the Python reader's cost command lands (owned by the editor work). */
export async function runPythonCostCommand(_path: string, _options: { json: boolean; convention: string; dtype: string; inputSize: [number, number] }): Promise<number> {
  throw new Error('sepconv cost FILE.py is not available in this build');
}
