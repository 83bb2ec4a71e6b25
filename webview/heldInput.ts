/**
 * Which inputs the extension host holds from this page's runs (see HeldInput in protocol.ts): a run
 * on an image the host already has names it by its SHA-256 instead of sending the tensor again.
 * The page's list follows the host's (the same two latest inputs); when they disagree (the host
 * restarted, say) the host says so and the page sends the tensor.
 */
import { INPUT_NOT_HELD, type HeldInput, type WireTensor } from '../src/shared/protocol';

/** Inputs the host keeps (heldInputs.ts): the same number here. */
const KEPT = 2;

export class HostInputs {
  private readonly held: string[] = [];

  /**
   * Runs `send` with the input named when the host holds it, else with the tensor; once more with
   * the tensor when the host answers that it does not hold the named one.
   */
  async send<T>(tensor: WireTensor, send: (input: WireTensor | HeldInput) => Promise<T>): Promise<T> {
    const digest = await sha256Hex(tensor.data);
    if (digest && this.held.includes(digest)) {
      try {
        const result = await send({ shape: [...tensor.shape], held: digest });
        this.touch(digest);
        return result;
      } catch (error) {
        this.held.splice(this.held.indexOf(digest), 1);
        if (!(error instanceof Error) || error.message !== INPUT_NOT_HELD) throw error;
      }
    }
    const result = await send(tensor);
    if (digest) this.touch(digest);
    return result;
  }

  private touch(digest: string): void {
    const at = this.held.indexOf(digest);
    if (at >= 0) this.held.splice(at, 1);
    this.held.push(digest);
    while (this.held.length > KEPT) this.held.shift();
  }
}

/** SHA-256 of the bytes in lowercase hex; undefined where the page has no crypto.subtle (then inputs are always sent). */
async function sha256Hex(bytes: ArrayBuffer): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  try {
    const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
    return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  } catch {
    return undefined;
  }
}
