#!/usr/bin/env bash
# The one test command (`npm test`): type-check and build, then every suite.
# Faster subsets: `npm run test:unit` (vitest: spec, cost model, io, CPU engine, WebGPU engine, parser).
set -euo pipefail
cd "$(dirname "$0")/.."
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}"
node esbuild.mjs
npx vitest run
# The playground in headless Chromium (standalone page, CPU and SwiftShader WebGPU).
npx vitest run --config test/e2e/vitest.config.ts
