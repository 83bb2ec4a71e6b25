/** Number and shape formatting shared by the CLI, the hover and the playground. */

/** 4231976 -> "4.23M", 568740000 -> "568.74M", 1184 -> "1.18K". */
export function formatCount(value: number, digits = 2): string {
  const abs = Math.abs(value);
  if (abs >= 1e12) return `${(value / 1e12).toFixed(digits)}T`;
  if (abs >= 1e9) return `${(value / 1e9).toFixed(digits)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(digits)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(digits)}K`;
  return String(value);
}

/** 5602688 -> "5,602,688". */
export function formatInteger(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** [1, 32, 112, 112] -> "1x32x112x112". */
export function formatShape(shape: readonly number[]): string {
  return shape.join('x');
}

/** 0.1234 -> "12.3%". */
export function formatPercent(ratio: number, digits = 1): string {
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** 1536 -> "1.5 KiB", 300 -> "300 B" (powers of 1024). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
