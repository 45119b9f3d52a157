#!/usr/bin/env bash
# test.sh runs the whole test suite: vet for both builds, the native tests,
# and the model/quant/tokenizer/preprocess tests compiled to js/wasm and run
# in Node, so the code that runs in the browser is tested as wasm, then
# every fuzz target for CLIP4CLIP_FUZZ_SECONDS (default 10; 0 skips).
# Reference fixtures are read from ../shared/fixtures; without them those
# tests skip and say so.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "go vet (native and js/wasm)"
go vet ./...
GOOS=js GOARCH=wasm go vet ./...

step "native tests"
go test -count=1 ./...

step "js/wasm tests in Node"
if ! command -v node >/dev/null; then
	echo "node is not installed: the js/wasm tests need it (apt-get install nodejs)" >&2
	exit 1
fi
# tools/wasmexec/go_js_wasm_exec is Go's plus the clip4clip_simd imports
# (quant's WebAssembly SIMD kernels) that these binaries need.
PATH="$PWD/tools/wasmexec:$PATH" GOOS=js GOARCH=wasm \
	go test -count=1 ./quant/ ./model/... ./weights/ ./internal/npy/ ./synth/ ./wasm/ ./wasm/engine/ ./siteindex/

step "quant's SIMD kernels in headless Chromium (SIMD128, relaxed SIMD)"
# tools/wasmbrowser runs the test binary in a worker of headless Chromium
# with kernels.js, as the page does. There TestSIMDHostHasKernels requires
# both variants, the tests switch between them (use()), and a relaxed
# subtest that would skip fails; Node 20 cannot run relaxed SIMD.
if command -v "${CHROMIUM:-chromium}" >/dev/null || command -v chromium-browser >/dev/null ||
	command -v google-chrome >/dev/null || command -v google-chrome-stable >/dev/null; then
	out="$(mktemp)"
	if CLIP4CLIP_SIMD=auto GOOS=js GOARCH=wasm \
		go test -count=1 -v -exec "$PWD/tools/wasmbrowser/run" ./quant/ >"$out" 2>&1; then
		grep -E '^(wasmbrowser: |ok )' "$out"
		echo "$(grep -cE -- '--- PASS: [^ ]+/relaxed' "$out") relaxed SIMD subtests passed, $(grep -cE -- '--- SKIP' "$out") skipped"
		rm -f "$out"
	else
		cat "$out"
		rm -f "$out"
		exit 1
	fi
elif [ -n "${CLIP4CLIP_ALLOW_SKIP:-}" ] && [ "${CLIP4CLIP_ALLOW_SKIP}" != 0 ]; then
	echo "SKIP: chromium is not installed (apt-get install -y chromium); quant's kernels were not run in a browser"
else
	echo "chromium is not installed: quant's SIMD kernels must be tested in it (apt-get install -y chromium; CLIP4CLIP_ALLOW_SKIP=1 skips)" >&2
	exit 1
fi

step "wasm SIMD kernels: generated files up to date, self-test"
[ -d tools/node_modules/wabt ] || npm ci --prefix tools --no-audit --no-fund ||
	echo "npm ci failed: the staleness check of quant/simd will skip" >&2
node --test quant/simd/build.test.mjs

fuzz=${CLIP4CLIP_FUZZ_SECONDS:-10}
step "fuzz targets, ${fuzz} s each (CLIP4CLIP_FUZZ_SECONDS=0 skips)"
[ "$fuzz" = 0 ] || tools/fuzz.sh "$fuzz"
