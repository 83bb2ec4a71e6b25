/**
 * Two small canvas charts: grouped horizontal bars (depthwise vs pointwise vs the standard conv
 * they replace) and a log-log roofline. Colours come from the theme's --vscode-* variables, read
 * with getComputedStyle when drawn (the page redraws when the body's theme class changes).
 */

export interface ThemeColours {
  foreground: string;
  muted: string;
  grid: string;
  series: [string, string, string, string];
  font: string;
}

export function themeColours(): ThemeColours {
  const style = getComputedStyle(document.body);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    foreground: read('--vscode-foreground', '#cccccc'),
    muted: read('--vscode-descriptionForeground', '#999999'),
    grid: read('--vscode-panel-border', 'rgba(128,128,128,0.35)'),
    series: [
      read('--vscode-charts-blue', '#3794ff'),
      read('--vscode-charts-orange', '#d18616'),
      read('--vscode-charts-red', '#f14c4c'),
      read('--vscode-charts-green', '#89d185'),
    ],
    font: `${read('--vscode-font-size', '12px')} ${read('--vscode-font-family', 'system-ui, sans-serif')}`,
  };
}

/** A canvas sized for the device pixel ratio; returns the context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement, cssWidth: number, cssHeight: number): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssWidth * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  canvas.style.width = `${cssWidth}px`;
  canvas.style.height = `${cssHeight}px`;
  const context = canvas.getContext('2d')!;
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
}

export interface BarGroup {
  label: string;
  values: { name: string; value: number; text: string }[];
}

/** Horizontal bars, one group per row, each bar's length proportional to its value (linear scale). */
export function drawBars(canvas: HTMLCanvasElement, groups: BarGroup[], colours: ThemeColours, width: number): void {
  const barHeight = 12;
  const groupGap = 14;
  const labelWidth = Math.min(200, width * 0.3);
  const legendHeight = 22;
  const seriesCount = Math.max(1, ...groups.map((g) => g.values.length));
  const height = legendHeight + groups.length * (seriesCount * (barHeight + 2) + groupGap) + 4;
  const context = prepare(canvas, width, height);
  context.font = colours.font;
  context.textBaseline = 'middle';
  const max = Math.max(1, ...groups.flatMap((g) => g.values.map((v) => v.value)));
  const plotWidth = width - labelWidth - 150;
  // Legend from the first group's names.
  let x = labelWidth;
  (groups[0]?.values ?? []).forEach((v, i) => {
    context.fillStyle = colours.series[i % 4]!;
    context.fillRect(x, 6, 10, 10);
    context.fillStyle = colours.foreground;
    context.fillText(v.name, x + 14, 11);
    x += context.measureText(v.name).width + 34;
  });
  let y = legendHeight;
  for (const group of groups) {
    context.fillStyle = colours.foreground;
    context.textAlign = 'right';
    context.fillText(truncate(context, group.label, labelWidth - 8), labelWidth - 8, y + (group.values.length * (barHeight + 2)) / 2);
    context.textAlign = 'left';
    group.values.forEach((v, i) => {
      const length = Math.max(1, (v.value / max) * plotWidth);
      context.fillStyle = colours.series[i % 4]!;
      context.fillRect(labelWidth, y, length, barHeight);
      context.fillStyle = colours.muted;
      context.fillText(v.text, labelWidth + length + 6, y + barHeight / 2);
      y += barHeight + 2;
    });
    y += groupGap;
  }
}

function truncate(context: CanvasRenderingContext2D, text: string, width: number): string {
  if (context.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && context.measureText(`${cut}…`).width > width) cut = cut.slice(0, -1);
  return `${cut}…`;
}

export interface RooflineDevice {
  name: string;
  /** Peak FLOP/s. */
  peakFlops: number;
  /** Bytes/s. */
  bandwidth: number;
}

export interface RooflinePoint {
  label: string;
  /** FLOP per byte. */
  intensity: number;
  /** Achieved FLOP/s. */
  flopsPerSecond: number;
  series: number;
}

/** A log-log roofline: min(peak, bandwidth x intensity), with the measured points. */
export function drawRoofline(canvas: HTMLCanvasElement, device: RooflineDevice, points: RooflinePoint[], colours: ThemeColours, width: number): void {
  const height = Math.round(Math.min(360, width * 0.55));
  const context = prepare(canvas, width, height);
  context.font = colours.font;
  const margin = { left: 96, right: 16, top: 14, bottom: 40 };
  const intensities = points.map((p) => p.intensity).filter((v) => v > 0);
  const achieved = points.map((p) => p.flopsPerSecond).filter((v) => v > 0);
  const ridge = device.peakFlops / device.bandwidth;
  const xMin = 10 ** Math.floor(Math.log10(Math.min(0.1, ...intensities)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(ridge * 10, ...intensities)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(device.peakFlops * 2, ...achieved)));
  const yMin = 10 ** Math.floor(Math.log10(Math.min(device.bandwidth * xMin, ...achieved)));
  const px = (v: number) => margin.left + ((Math.log10(v) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (width - margin.left - margin.right);
  const py = (v: number) =>
    height - margin.bottom - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (height - margin.top - margin.bottom);
  // Grid and decade labels.
  context.strokeStyle = colours.grid;
  context.fillStyle = colours.muted;
  context.lineWidth = 1;
  context.textAlign = 'center';
  context.textBaseline = 'top';
  for (let d = Math.log10(xMin); d <= Math.log10(xMax); d++) {
    const x = px(10 ** d);
    context.beginPath();
    context.moveTo(x, margin.top);
    context.lineTo(x, height - margin.bottom);
    context.stroke();
    context.fillText(formatSi(10 ** d), x, height - margin.bottom + 4);
  }
  context.textAlign = 'right';
  context.textBaseline = 'middle';
  for (let d = Math.log10(yMin); d <= Math.log10(yMax); d++) {
    const y = py(10 ** d);
    context.beginPath();
    context.moveTo(margin.left, y);
    context.lineTo(width - margin.right, y);
    context.stroke();
    context.fillText(`${formatSi(10 ** d)}FLOP/s`, margin.left - 4, y);
  }
  context.textAlign = 'center';
  context.textBaseline = 'bottom';
  context.fillStyle = colours.foreground;
  context.fillText('arithmetic intensity (FLOP per byte of minimum traffic)', (margin.left + width - margin.right) / 2, height - 2);
  // The roof.
  context.strokeStyle = colours.foreground;
  context.lineWidth = 2;
  context.beginPath();
  context.moveTo(px(xMin), py(Math.max(yMin, device.bandwidth * xMin)));
  context.lineTo(px(ridge), py(device.peakFlops));
  context.lineTo(px(xMax), py(device.peakFlops));
  context.stroke();
  context.textAlign = 'left';
  context.textBaseline = 'bottom';
  context.fillText(`${device.name}: ${formatSi(device.peakFlops)}FLOP/s, ${formatSi(device.bandwidth)}B/s`, margin.left + 6, py(device.peakFlops) - 4);
  // Points.
  for (const point of points) {
    if (!(point.intensity > 0 && point.flopsPerSecond > 0)) continue;
    context.fillStyle = colours.series[point.series % 4]!;
    context.beginPath();
    context.arc(px(point.intensity), py(point.flopsPerSecond), 4.5, 0, Math.PI * 2);
    context.fill();
  }
}

export function formatSi(value: number): string {
  const units: [number, string][] = [
    [1e15, 'P'],
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (value >= scale) return `${+(value / scale).toPrecision(3)} ${unit}`;
  return `${+value.toPrecision(3)} `;
}
