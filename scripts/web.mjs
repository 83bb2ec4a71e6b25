// `npm run web`: the playground as a standalone page on http://127.0.0.1:PORT (default 5173),
// with the engine in the page (a Web Worker). The same webview bundle and the same HTML builder
// (src/playground/html.ts) as the VS Code panel, under the same CSP.
// Usage: node scripts/web.mjs [--port N] [--no-build]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : Number(process.env.PORT ?? 5173);

if (!args.includes('--no-build') || !existsSync(join(root, 'dist/webview.js'))) {
  execFileSync(process.execPath, ['esbuild.mjs', '--only=webview,webviewWorker', '--no-typecheck'], { cwd: root, stdio: 'inherit' });
}

// The page builder is TypeScript: bundle it on the fly and import it.
const built = await esbuild.build({
  entryPoints: [join(root, 'src/playground/html.ts')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  write: false,
  logLevel: 'warning',
});
const { getPlaygroundHtml } = await import(`data:text/javascript;base64,${Buffer.from(built.outputFiles[0].text).toString('base64')}`);

const TYPES = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.png': 'image/png',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};
/** Only these folders are served, as localResourceRoots allows only dist/ and media/ in VS Code. */
const SERVED = ['dist', 'media'];

/**
 * Cross-origin isolation: with these the page (and its workers) get SharedArrayBuffer, so the
 * CPU engine runs on a pool of threads there. Everything is served from this origin.
 */
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
  const origin = `http://127.0.0.1:${server.address().port}`;
  try {
    if (url.pathname === '/' || url.pathname === '/index.html') {
      const html = getPlaygroundHtml({
        cspSource: origin,
        nonce: randomBytes(16).toString('hex'),
        scriptUri: '/dist/webview.js',
        workerUri: '/dist/webviewWorker.js',
        styleUri: '/media/playground.css',
        codiconUri: '/dist/codicon.css',
        samplesUri: '/media/samples/',
        standalone: true,
      });
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...ISOLATION });
      response.end(html);
      return;
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    const allowed = SERVED.some((folder) => path.startsWith(join(root, folder) + sep));
    if (!allowed || !(await stat(path)).isFile()) throw Object.assign(new Error('not found'), { code: 'ENOENT' });
    response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATION });
    response.end(await readFile(path));
  } catch (error) {
    response.writeHead(error.code === 'ENOENT' ? 404 : 500, { 'content-type': 'text/plain' });
    response.end(error.code === 'ENOENT' ? 'not found' : String(error));
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`SepConv playground: http://127.0.0.1:${server.address().port}/ (Ctrl+C to stop)`);
});
