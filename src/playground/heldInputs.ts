/**
 * The inputs a panel's latest runs were given, by the SHA-256 of their float32 bytes: a run on the
 * same image names it instead of sending it again (see HeldInput in protocol.ts). The digest is
 * computed here from the bytes received, so a name only ever finds the bytes it was made from.
 *
 * No `vscode` import: the request handlers and the tests use it alike.
 */
import { createHash } from 'node:crypto';
import { elementCount } from '../shared/tensor';
import { INPUT_NOT_HELD, isHeldInput, type HeldInput, type WireTensor } from '../shared/protocol';

/** Inputs kept: the image now and the one before (switching back and forth between two costs nothing). */
const KEPT = 2;

export class HeldInputs {
  private readonly kept = new Map<string, Float32Array>();

  /**
   * The input of a run as a tensor of its own (the run may transfer it): the bytes sent, which are
   * kept under their digest, or a copy of the held ones.
   * @throws Error with the message INPUT_NOT_HELD when a named input is not held, or its shape does not fit it
   */
  take(input: WireTensor | HeldInput): { shape: number[]; data: Float32Array } {
    if (isHeldInput(input)) {
      const data = this.kept.get(input.held);
      if (!data || data.length !== elementCount(input.shape)) throw new Error(INPUT_NOT_HELD);
      // Most recently used last: the oldest is dropped first.
      this.kept.delete(input.held);
      this.kept.set(input.held, data);
      return { shape: [...input.shape], data: data.slice() };
    }
    const data = new Float32Array(input.data);
    const digest = inputDigest(data);
    this.kept.delete(digest);
    this.kept.set(digest, data.slice());
    while (this.kept.size > KEPT) this.kept.delete(this.kept.keys().next().value!);
    return { shape: [...input.shape], data };
  }

  clear(): void {
    this.kept.clear();
  }
}

/** SHA-256 of a tensor's float32 bytes, lowercase hex: what the page computes with crypto.subtle. */
export function inputDigest(data: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    .digest('hex');
}
