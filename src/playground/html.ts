/**
 * The playground page: one HTML builder for both the VS Code webview and the standalone page
 * (`npm run web`). It imports neither `vscode` nor the DOM, so scripts/web.mjs can use it too.
 *
 * CSP: nothing is allowed by default; scripts only with the page's nonce (plus WebAssembly
 * compilation, for the CPU engine's SIMD kernels); styles, fonts and
 * fetches only from the extension's own resources (`cspSource`); images from blob:/data: (the
 * feature map exports and user images); the engine's Web Worker only from a blob: URL (the page
 * fetches dist/webviewWorker.js and starts the worker from a Blob of it, because a webview cannot
 * start a worker from its vscode-resource origin directly); no <base> and no form submission.
 */

export interface PlaygroundHtmlOptions {
  /** `webview.cspSource` in VS Code; the server's origin in the standalone page. */
  cspSource: string;
  nonce: string;
  /** URLs (already mapped with asWebviewUri in VS Code). */
  scriptUri: string;
  workerUri: string;
  styleUri: string;
  codiconUri: string;
  /** Base URL of media/samples/, ending with a slash. */
  samplesUri: string;
  standalone: boolean;
}

/** 32 random bytes as base64url-free hex; a fresh one per page. */
export function makeNonce(random: (bytes: number) => Uint8Array): string {
  return Array.from(random(16), (b) => b.toString(16).padStart(2, '0')).join('');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function contentSecurityPolicy({ cspSource, nonce }: Pick<PlaygroundHtmlOptions, 'cspSource' | 'nonce'>): string {
  return [
    "default-src 'none'",
    // 'wasm-unsafe-eval': the CPU engine's WebAssembly SIMD kernels (compiled, not eval'd text); workers started from blob: inherit this policy.
    `script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    'img-src blob: data:',
    `connect-src ${cspSource}`,
    'worker-src blob:',
    // Neither falls back to default-src: without them an injected <base> or <form> could redirect the page's URLs or post its data.
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function getPlaygroundHtml(options: PlaygroundHtmlOptions): string {
  const a = escapeAttribute;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${a(contentSecurityPolicy(options))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${a(options.codiconUri)}">
<link rel="stylesheet" href="${a(options.styleUri)}">
<title>SepConv Playground</title>
</head>
<body${options.standalone ? ' class="vscode-dark standalone"' : ''}>
<div id="app" data-worker="${a(options.workerUri)}" data-samples="${a(options.samplesUri)}" data-standalone="${options.standalone ? 'true' : 'false'}">
<p class="loading">Loading the playground...</p>
</div>
<script type="module" nonce="${a(options.nonce)}" src="${a(options.scriptUri)}"></script>
</body>
</html>`;
}
