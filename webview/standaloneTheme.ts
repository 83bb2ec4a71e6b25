/**
 * The standalone page's theme switch. In VS Code the webview gets a body class (vscode-light,
 * vscode-dark, vscode-high-contrast) and the --vscode-* colour variables on <html>; the standalone
 * page does the same from these palettes (VS Code's Light Modern, Dark Modern and High Contrast
 * defaults, for the variables the page uses), so all three themes can be tried and tested in a browser.
 */

export const STANDALONE_THEMES = ['light', 'dark', 'high-contrast'] as const;
export type StandaloneTheme = (typeof STANDALONE_THEMES)[number];

export const THEME_LABELS: Record<StandaloneTheme, string> = { light: 'Light', dark: 'Dark', 'high-contrast': 'High contrast' };

const COMMON: Record<string, string> = {
  'font-family': 'system-ui, -apple-system, "Segoe UI", Ubuntu, sans-serif',
  'font-size': '13px',
  'editor-font-family': '"Droid Sans Mono", "DejaVu Sans Mono", monospace',
  'editor-font-size': '13px',
};

const PALETTES: Record<StandaloneTheme, Record<string, string>> = {
  light: {
    foreground: '#3b3b3b',
    'editor-background': '#ffffff',
    descriptionForeground: '#616161',
    'panel-border': '#e5e5e5',
    'input-background': '#ffffff',
    'input-foreground': '#3b3b3b',
    'input-border': '#cecece',
    focusBorder: '#005fb8',
    'button-background': '#005fb8',
    'button-foreground': '#ffffff',
    'button-hoverBackground': '#0258a8',
    'button-border': '#0000001a',
    'button-secondaryBackground': '#e5e5e5',
    'button-secondaryForeground': '#3b3b3b',
    'button-secondaryHoverBackground': '#cccccc',
    errorForeground: '#a1260d',
    'inputValidation-errorBorder': '#be1100',
    'inputValidation-errorBackground': '#f2dede',
    'sideBar-background': '#f8f8f8',
    'textLink-foreground': '#005fb8',
    'charts-blue': '#1a85ff',
    'charts-orange': '#c35f00',
    'charts-red': '#e51400',
    'charts-green': '#388a34',
  },
  dark: {
    foreground: '#cccccc',
    'editor-background': '#1f1f1f',
    descriptionForeground: '#9d9d9d',
    'panel-border': '#2b2b2b',
    'input-background': '#313131',
    'input-foreground': '#cccccc',
    'input-border': '#3c3c3c',
    focusBorder: '#0078d4',
    'button-background': '#0078d4',
    'button-foreground': '#ffffff',
    'button-hoverBackground': '#026ec1',
    'button-border': '#ffffff12',
    'button-secondaryBackground': '#313131',
    'button-secondaryForeground': '#cccccc',
    'button-secondaryHoverBackground': '#3c3c3c',
    errorForeground: '#f85149',
    'inputValidation-errorBorder': '#be1100',
    'inputValidation-errorBackground': '#5a1d1d',
    'sideBar-background': '#181818',
    'textLink-foreground': '#4daafc',
    'charts-blue': '#3794ff',
    'charts-orange': '#d18616',
    'charts-red': '#f14c4c',
    'charts-green': '#89d185',
  },
  'high-contrast': {
    foreground: '#ffffff',
    'editor-background': '#000000',
    descriptionForeground: '#ffffffb3',
    'panel-border': '#6fc3df',
    contrastBorder: '#6fc3df',
    contrastActiveBorder: '#f38518',
    'input-background': '#000000',
    'input-foreground': '#ffffff',
    'input-border': '#6fc3df',
    focusBorder: '#f38518',
    'button-background': '#000000',
    'button-foreground': '#ffffff',
    'button-hoverBackground': '#000000',
    'button-border': '#6fc3df',
    'button-secondaryBackground': '#000000',
    'button-secondaryForeground': '#ffffff',
    'button-secondaryHoverBackground': '#000000',
    errorForeground: '#f48771',
    'inputValidation-errorBorder': '#be1100',
    'inputValidation-errorBackground': '#5a1d1d',
    'sideBar-background': '#000000',
    'textLink-foreground': '#21a6ff',
    'charts-blue': '#3794ff',
    'charts-orange': '#d18616',
    'charts-red': '#f14c4c',
    'charts-green': '#89d185',
  },
};

const BODY_CLASSES: Record<StandaloneTheme, string> = { light: 'vscode-light', dark: 'vscode-dark', 'high-contrast': 'vscode-high-contrast' };
const STORAGE_KEY = 'sepconv.playground.theme';

function isTheme(value: unknown): value is StandaloneTheme {
  return typeof value === 'string' && (STANDALONE_THEMES as readonly string[]).includes(value);
}

/** The theme to start with: ?theme= in the URL, else the last one chosen, else dark. */
export function initialTheme(): StandaloneTheme {
  const fromUrl = new URLSearchParams(location.search).get('theme');
  if (isTheme(fromUrl)) return fromUrl;
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (isTheme(stored)) return stored;
  } catch {
    // No storage (private mode): the default.
  }
  return 'dark';
}

/** Sets the variables on <html> and the class on <body>, as VS Code does for a webview, and remembers the choice. */
export function applyTheme(theme: StandaloneTheme): void {
  const style = document.documentElement.style;
  for (const palette of Object.values(PALETTES)) for (const name of Object.keys(palette)) style.removeProperty(`--vscode-${name}`);
  for (const [name, value] of Object.entries({ ...COMMON, ...PALETTES[theme] })) style.setProperty(`--vscode-${name}`, value);
  document.body.classList.remove(...Object.values(BODY_CLASSES));
  document.body.classList.add(BODY_CLASSES[theme]);
  document.body.dataset.vscodeThemeKind = BODY_CLASSES[theme];
  try {
    localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    // Not remembered; still applied.
  }
}
