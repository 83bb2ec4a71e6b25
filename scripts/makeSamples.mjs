// Draws the playground's sample images (media/samples/*.png) and the extension icon
// (media/icon.png) from code, so that every shipped image is the project's own work.
// Usage: node scripts/makeSamples.mjs
import { deflateSync } from 'node:zlib';
import { writeFileSync, mkdirSync } from 'node:fs';

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit RGBA PNG (no colour profile chunks, so browsers decode the bytes as they are). */
function encodePng(width, height, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    Buffer.from(rgba.buffer, rgba.byteOffset + y * width * 4, width * 4).copy(raw, y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A tiny canvas: solid fills with 4x4 supersampled coverage for smooth edges. */
class Canvas {
  constructor(width, height, background) {
    this.width = width;
    this.height = height;
    this.data = new Uint8ClampedArray(width * height * 4);
    this.fill(() => true, background);
  }

  /** Paints every pixel whose coverage by `inside(x, y)` (continuous coordinates) is > 0. */
  fill(inside, [r, g, b], alpha = 1) {
    const s = 4;
    for (let y = 0; y < this.height; y++) {
      for (let x = 0; x < this.width; x++) {
        let hits = 0;
        for (let j = 0; j < s; j++) for (let i = 0; i < s; i++) if (inside(x + (i + 0.5) / s, y + (j + 0.5) / s)) hits++;
        if (!hits) continue;
        const a = (hits / (s * s)) * alpha;
        const o = (y * this.width + x) * 4;
        this.data[o] = this.data[o] * (1 - a) + r * a;
        this.data[o + 1] = this.data[o + 1] * (1 - a) + g * a;
        this.data[o + 2] = this.data[o + 2] * (1 - a) + b * a;
        this.data[o + 3] = 255;
      }
    }
  }

  disc(cx, cy, radius, colour, alpha) {
    this.fill((x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2, colour, alpha);
  }

  ring(cx, cy, inner, outer, colour, alpha) {
    this.fill(
      (x, y) => {
        const d = Math.hypot(x - cx, y - cy);
        return d >= inner && d <= outer;
      },
      colour,
      alpha,
    );
  }

  rect(x0, y0, x1, y1, colour, alpha) {
    this.fill((x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1, colour, alpha);
  }

  polygon(points, colour, alpha) {
    this.fill(
      (x, y) => {
        let inside = false;
        for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
          const [xi, yi] = points[i];
          const [xj, yj] = points[j];
          if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
        }
        return inside;
      },
      colour,
      alpha,
    );
  }

  /** Text in a 5x7 pixel font, each font pixel `scale` canvas pixels wide. */
  text(string, x0, y0, scale, colour) {
    let x = x0;
    for (const ch of string) {
      const glyph = FONT[ch] ?? FONT[' '];
      this.fill((x1, y1) => {
        const gx = Math.floor((x1 - x) / scale);
        const gy = Math.floor((y1 - y0) / scale);
        return gx >= 0 && gx < 5 && gy >= 0 && gy < 7 && ((glyph[gy] >> (4 - gx)) & 1) === 1;
      }, colour);
      x += 6 * scale;
    }
  }

  png() {
    return encodePng(this.width, this.height, this.data);
  }
}

// 5x7 glyphs, one row per number, most significant of 5 bits on the left.
const FONT = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  A: [14, 17, 17, 31, 17, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [30, 17, 17, 17, 17, 17, 30],
  E: [31, 16, 16, 30, 16, 16, 31],
  L: [16, 16, 16, 16, 16, 16, 31],
  N: [17, 25, 21, 19, 17, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  S: [15, 16, 16, 14, 1, 1, 30],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  3: [30, 1, 1, 14, 1, 1, 30],
  1: [4, 12, 4, 4, 4, 4, 14],
};

const W = 224;

function shapes() {
  const c = new Canvas(W, W, [242, 238, 226]);
  c.rect(16, 20, 96, 100, [38, 84, 164]);
  c.disc(158, 62, 44, [222, 92, 42]);
  c.polygon(
    [
      [40, 204],
      [100, 118],
      [160, 204],
    ],
    [46, 150, 90],
  );
  c.ring(170, 170, 22, 34, [120, 60, 150]);
  c.rect(118, 122, 138, 210, [30, 30, 30]);
  for (let i = 0; i < 6; i++) c.rect(12 + i * 14, 112, 18 + i * 14, 118, [200, 160, 40]);
  return c;
}

function text() {
  const c = new Canvas(W, W, [250, 250, 250]);
  c.text('SEPCONV', 10, 24, 5, [20, 20, 20]);
  c.text('DW PW', 10, 82, 7, [170, 40, 40]);
  c.text('3X3 1X1', 10, 150, 5, [40, 70, 160]);
  c.rect(10, 200, 214, 204, [20, 20, 20]);
  return c;
}

function rings() {
  const c = new Canvas(W, W, [12, 14, 28]);
  for (let r = 100; r > 4; r -= 12) c.ring(112, 112, r - 5, r, [80 + r, 200 - r, 120 + r / 2]);
  for (let k = 0; k < 8; k++) {
    const a = (k * Math.PI) / 4;
    c.polygon(
      [
        [112, 112],
        [112 + 110 * Math.cos(a - 0.05), 112 + 110 * Math.sin(a - 0.05)],
        [112 + 110 * Math.cos(a + 0.05), 112 + 110 * Math.sin(a + 0.05)],
      ],
      [250, 250, 250],
      0.6,
    );
  }
  return c;
}

function tiles() {
  const c = new Canvas(W, W, [90, 120, 150]);
  // A skyline: blocks of several heights with window grids, a sun, a ground line.
  c.disc(176, 50, 24, [255, 214, 90]);
  const blocks = [
    [8, 110, 44],
    [50, 70, 40],
    [96, 130, 30],
    [132, 90, 46],
    [184, 120, 32],
  ];
  for (const [x, top, w] of blocks) {
    c.rect(x, top, x + w, 196, [40, 44, 58]);
    for (let y = top + 8; y < 188; y += 14) for (let wx = x + 6; wx < x + w - 6; wx += 10) c.rect(wx, y, wx + 4, y + 6, [250, 220, 120]);
  }
  c.rect(0, 196, 224, 224, [60, 90, 50]);
  return c;
}

/** The icon: three channel planes (depthwise) feeding one plane through a 1x1 column (pointwise). */
function icon() {
  const c = new Canvas(128, 128, [30, 34, 48]);
  const colours = [
    [230, 90, 70],
    [90, 190, 110],
    [80, 140, 230],
  ];
  colours.forEach((colour, i) => {
    const x = 14 + i * 10;
    const y = 18 + i * 10;
    c.polygon(
      [
        [x, y],
        [x + 44, y + 8],
        [x + 44, y + 60],
        [x, y + 52],
      ],
      colour,
      0.9,
    );
    c.rect(x + 14, y + 20, x + 26, y + 32, [255, 255, 255], 0.7);
  });
  c.polygon(
    [
      [72, 60],
      [94, 60],
      [94, 68],
      [72, 68],
    ],
    [240, 240, 240],
  );
  c.polygon(
    [
      [94, 52],
      [108, 64],
      [94, 76],
    ],
    [240, 240, 240],
  );
  c.rect(98, 84, 120, 118, [250, 200, 70]);
  return c;
}

mkdirSync('media/samples', { recursive: true });
const samples = { shapes, text, rings, skyline: tiles };
for (const [name, draw] of Object.entries(samples)) writeFileSync(`media/samples/${name}.png`, draw().png());
writeFileSync('media/icon.png', icon().png());
console.log(
  `wrote ${Object.keys(samples)
    .map((n) => `media/samples/${n}.png`)
    .join(', ')}, media/icon.png`,
);
