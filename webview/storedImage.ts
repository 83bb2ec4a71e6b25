/**
 * The user's own image kept across reloads: a downscaled copy, PNG (JPEG when the PNG is too
 * large), as base64 in the page's saved state. VS Code keeps a webview's state as JSON, and the
 * standalone page keeps it in localStorage (about 5 MB per origin), so the copy is bounded.
 */

/** A user image as it is kept in the saved state. */
export interface StoredImage {
  name: string;
  type: 'image/png' | 'image/jpeg';
  /** The encoded file, base64. */
  base64: string;
  width: number;
  height: number;
  /** Size of the image the user chose (the copy may be smaller). */
  originalWidth: number;
  originalHeight: number;
}

/** Longest side of the kept copy, pixels: twice the usual 224 input, so a reload loses little. */
export const STORED_IMAGE_MAX_SIDE = 512;
/** Largest kept copy, base64 characters (about 1.1 MiB of file): small enough to save the state on every change. */
export const STORED_IMAGE_MAX_CHARS = 1_500_000;

/** A copy of `image` small enough to keep, or why none is kept. */
export async function storeImage(image: ImageBitmap, name: string): Promise<StoredImage | { reason: string }> {
  const scale = Math.min(1, STORED_IMAGE_MAX_SIDE / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  context.imageSmoothingQuality = 'high';
  context.drawImage(image, 0, 0, width, height);
  for (const [type, quality] of [
    ['image/png', undefined],
    ['image/jpeg', 0.92],
  ] as const) {
    const blob = await canvas.convertToBlob({ type, quality });
    const base64 = toBase64(new Uint8Array(await blob.arrayBuffer()));
    if (base64.length <= STORED_IMAGE_MAX_CHARS) return { name, type, base64, width, height, originalWidth: image.width, originalHeight: image.height };
  }
  return { reason: `even a ${width}x${height} JPEG of it is over ${(STORED_IMAGE_MAX_CHARS / 1e6).toFixed(1)} M characters` };
}

/** Decodes a kept copy (no fetch of a data: URL: the page's CSP allows fetches from its own resources only). */
export async function loadStoredImage(stored: StoredImage): Promise<ImageBitmap> {
  return createImageBitmap(new Blob([fromBase64(stored.base64)], { type: stored.type }));
}

/** A saved state's image field when it has the right form, else undefined. */
export function checkStoredImage(value: unknown): StoredImage | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const dims = ['width', 'height', 'originalWidth', 'originalHeight'].every(
    (k) => Number.isInteger(v[k]) && (v[k] as number) >= 1 && (v[k] as number) <= 1 << 16,
  );
  if (!dims || typeof v.name !== 'string' || v.name.length > 512) return undefined;
  if ((v.type !== 'image/png' && v.type !== 'image/jpeg') || typeof v.base64 !== 'string' || v.base64.length > STORED_IMAGE_MAX_CHARS) return undefined;
  return v as unknown as StoredImage;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
