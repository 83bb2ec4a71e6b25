#!/usr/bin/env bash
# The one test command (`npm test`): lint, type-check and build, then every suite.
# Faster subsets: `npm run test:unit` (vitest: spec, cost model, io, CPU engine, WebGPU engine, parser).
set -euo pipefail
cd "$(dirname "$0")/.."
# ESLint with the type-aware rules (floating promises, unsafe any): eslint.config.mjs. The cheapest failure first.
npm run --silent lint
# Prettier's formatting (.prettierrc.json; `npm run format` applies it).
npm run --silent format:check
# The Debian packages the suites need (Chromium with SwiftShader, the Vulkan loader, PyTorch, code-server's
# two): apt-get as root or with sudo, else one line that names them and the command, and exit 1.
node scripts/systemPackages.mjs test
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}"
node esbuild.mjs
# Keras 3 and jax for the Keras measurement tests: $SEPCONV_KERAS_PYTHON, else .venv-keras/ (made once
# here, not in a test: pip takes minutes; later runs reuse it). It fails, saying why, when it cannot be made.
SEPCONV_KERAS_PYTHON="$(node scripts/kerasPython.mjs)"
export SEPCONV_KERAS_PYTHON
npx vitest run
# The real extension host (code-server): activation, commands, editor features, playground, reload.
node scripts/runIntegration.mjs --no-build
# The linux-x64 VSIX installed into a fresh code-server (rebuilds dist/ for development afterwards).
node scripts/testVsixInstall.mjs
# The playground in headless Chromium (standalone page, CPU and SwiftShader WebGPU), and
# driven in VS Code itself (command palette, runs in the panel): test/e2e/vscodeUi.e2e.test.ts;
# the hover, CodeLens and quick fix on a corpus file: test/e2e/editorFeatures.e2e.test.ts.
# The three e2e files write README's screenshots (media/screenshots/).
npx vitest run --config test/e2e/vitest.config.ts
