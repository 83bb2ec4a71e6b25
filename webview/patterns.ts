/**
 * Synthetic input images and the image -> tensor conversion. Pure functions (no DOM), shared by
 * the page and the end-to-end tests.
 */

export const PATTERNS = ['checkerboard', 'gradient', 'radial', 'edges', 'stripes'] as const;
export type PatternName = (typeof PATTERNS)[number];

export const NORMALISATIONS = ['unit', 'imagenet', 'symmetric', 'custom'] as const;
export type Normalisation = (typeof NORMALISATIONS)[number];
export const NORMALISATION_LABELS: Record<Normalisation, string> = {
  unit: '[0, 1]',
  imagenet: 'ImageNet mean/std',
  symmetric: '[-1, 1]',
  custom: 'Your mean/std',
};

/** Per colour (R, G, B) mean and std applied to [0, 1] values: (value - mean) / std. */
export interface MeanStd {
  mean: readonly number[];
  std: readonly number[];
}

export const IMAGENET_MEAN_STD: MeanStd = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The mean and std of a named normalisation ('custom' takes the user's). */
export function meanStd(normalisation: Normalisation, custom?: MeanStd): MeanStd {
  switch (normalisation) {
    case 'unit':
      return { mean: [0, 0, 0], std: [1, 1, 1] };
    case 'imagenet':
      return IMAGENET_MEAN_STD;
    case 'symmetric':
      return { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
    case 'custom':
      if (!custom) throw new Error('the custom normalisation needs a mean and a std');
      return custom;
  }
}

/** RGBA bytes, row-major, as ImageData holds them. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** Draws a pattern at the given size. Every pattern has edges in several orientations, so filters show something. */
export function makePattern(name: PatternName, width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  const set = (x: number, y: number, r: number, g: number, b: number) => {
    const o = (y * width + x) * 4;
    data[o] = r;
    data[o + 1] = g;
    data[o + 2] = b;
    data[o + 3] = 255;
  };
  const cell = Math.max(2, Math.round(Math.min(width, height) / 8));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = width > 1 ? x / (width - 1) : 0;
      const v = height > 1 ? y / (height - 1) : 0;
      switch (name) {
        case 'checkerboard': {
          const on = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 === 0;
          set(x, y, on ? 235 : 20, on ? 235 : 20, on ? 235 : 20);
          break;
        }
        case 'gradient':
          set(x, y, Math.round(u * 255), Math.round(v * 255), Math.round((1 - u) * 255));
          break;
        case 'radial': {
          const d = Math.hypot(u - 0.5, v - 0.5) / Math.SQRT1_2;
          const level = Math.round((1 - d) * 255);
          set(x, y, level, Math.round(level * 0.8), Math.round(255 - level * 0.5));
          break;
        }
        case 'edges': {
          // A bright square, a disc and a diagonal line on a dark background.
          const inSquare = u > 0.12 && u < 0.45 && v > 0.12 && v < 0.45;
          const inDisc = Math.hypot(u - 0.7, v - 0.68) < 0.2;
          const onLine = Math.abs(u - v) < 0.02 || Math.abs(u + v - 1) < 0.015;
          const level = inSquare ? 230 : inDisc ? 170 : onLine ? 255 : 25;
          set(x, y, level, inDisc ? 90 : level, inSquare ? 60 : level);
          break;
        }
        case 'stripes': {
          const angle = Math.sin((u * 0.8 + v * 0.35) * Math.PI * 10);
          const level = angle > 0 ? 220 : 35;
          set(x, y, level, Math.round(level * 0.6 + 60), 255 - level);
          break;
        }
      }
    }
  }
  return { width, height, data };
}

/**
 * An RGBA image as an NCHW float32 tensor [1, channels, H, W]. With 1 channel: the luminance;
 * with 3: R, G, B; with more: R, G, B repeated (channel c holds colour c mod 3), so that an image
 * can feed a block from the middle of a network.
 */
export function imageToTensor(image: RgbaImage, channels: number, normalisation: Normalisation | MeanStd): { shape: number[]; data: Float32Array } {
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  const values = typeof normalisation === 'string' ? meanStd(normalisation) : normalisation;
  for (let c = 0; c < channels; c++) {
    const colour = c % 3;
    // A one-channel (luminance) input takes the first colour's mean and std.
    const mean = values.mean[colour]!;
    const std = values.std[colour]!;
    for (let i = 0; i < plane; i++) {
      const value = channels === 1 ? (0.299 * data[i * 4]! + 0.587 * data[i * 4 + 1]! + 0.114 * data[i * 4 + 2]!) / 255 : data[i * 4 + colour]! / 255;
      out[c * plane + i] = (value - mean) / std;
    }
  }
  return { shape: [1, channels, height, width], data: out };
}
