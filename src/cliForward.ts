/** Placeholder until the engine's forward command lands (owned by the CPU engine work). */
export async function runForwardCommand(_args: string[]): Promise<number> {
  throw new Error('sepconv forward is not available in this build');
}
