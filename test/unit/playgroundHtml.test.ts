/** The playground page's Content-Security-Policy (the webview and the standalone page share it). */
import { describe, it, expect } from 'vitest';
import { contentSecurityPolicy, getPlaygroundHtml } from '../../src/playground/html';

const OPTIONS = {
  cspSource: 'https://example.vscode-cdn.net',
  nonce: 'abc123',
  scriptUri: 's.js',
  workerUri: 'w.js',
  styleUri: 's.css',
  codiconUri: 'c.css',
  samplesUri: 'samples/',
  standalone: false,
};

/** The policy's directives by name, parsed as a browser does (first occurrence wins). */
function directives(policy: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name && !map.has(name.toLowerCase())) map.set(name.toLowerCase(), values);
  }
  return map;
}

describe('playground CSP', () => {
  it('forbids <base> and form submissions, which default-src does not cover', () => {
    const csp = directives(contentSecurityPolicy(OPTIONS));
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'nonce-abc123'", "'wasm-unsafe-eval'"]);
  });
  it('the page, webview and standalone alike, carries that policy in its meta tag', () => {
    for (const standalone of [false, true]) {
      const html = getPlaygroundHtml({ ...OPTIONS, standalone });
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
      expect(meta).not.toBeNull();
      const csp = directives(meta![1]!.replace(/&#39;|&apos;/g, "'"));
      expect(csp.get('base-uri')).toEqual(["'none'"]);
      expect(csp.get('form-action')).toEqual(["'none'"]);
    }
  });
});
