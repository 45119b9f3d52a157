#!/usr/bin/env bash
# test.sh runs the whole test suite, on a fresh machine too:
#
#   set-up     tools/setup.sh: checks ../shared/fixtures and Go, installs
#              Node, npm, ffmpeg and Chromium with apt-get where missing,
#              and wabt (npm ci --prefix tools); fails naming what it
#              cannot get
#   vet        go vet, native and js/wasm (a failure stops here)
#   stages     go native (./...), go js/wasm (the engine's packages in
#              Node), browser (quant's kernels in headless Chromium, relaxed
#              SIMD included), node (quant/simd's own tests); each runs to
#              the end even when an earlier one failed
#   fuzz       every fuzz target for CLIP4CLIP_FUZZ_SECONDS (default 10;
#              0 skips), not counted as tests
#
# It ends with the skipped tests and their reasons, a line per stage and
# the line "N passed, N failed, N skipped", and exits 1 if anything failed.
# Something the tests need and cannot get (a fixture, ffmpeg, Chromium...)
# fails the run, unless CLIP4CLIP_ALLOW_SKIP=1: then what needs it skips,
# and is listed.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }
allow_skip() { [ -n "${CLIP4CLIP_ALLOW_SKIP:-}" ] && [ "${CLIP4CLIP_ALLOW_SKIP}" != 0 ]; }

step "set-up"
tools/setup.sh

step "go vet (native and js/wasm)"
go vet ./...
GOOS=js GOARCH=wasm go vet ./...

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/testsum" ./tools/testsum
tally=$work/tally
failed=() # the stages that failed

# stage NAME [testsum flags...] -- COMMAND... runs COMMAND (go test -json,
# or node's TAP with -tap) through testsum, which prints it as go test does,
# counts its tests into the tally and fails on a failure (and so does a
# failing COMMAND, through pipefail).
stage() {
	local name=$1 flags=()
	shift
	while [ "$1" != -- ]; do
		flags+=("$1")
		shift
	done
	shift
	step "$name"
	if ! "$@" 2>&1 | "$work/testsum" -stage "$name" -tally "$tally" "${flags[@]}"; then
		failed+=("$name")
	fi
}

# not_run NAME REASON records a stage that cannot run here (what it needs is
# missing, and CLIP4CLIP_ALLOW_SKIP allowed that) as skipped.
not_run() {
	step "$1"
	"$work/testsum" -stage "$1" -tally "$tally" -skip "$2"
}

chromium=""
for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
	if [ -n "$c" ] && command -v "$c" >/dev/null; then
		chromium=$c
		break
	fi
done

# -timeout: e2e (headless Chromium, WebGPU on SwiftShader) takes 5-12 min on
# 2 busy cores, past go test's default 10 min.
stage "go native" -- go test -json -count=1 -timeout 40m ./...

# tools/wasmexec/go_js_wasm_exec is Go's plus the clip4clip_simd imports
# (quant's WebAssembly SIMD kernels) that these binaries need.
if command -v node >/dev/null; then
	stage "go js/wasm" -- env PATH="$PWD/tools/wasmexec:$PATH" GOOS=js GOARCH=wasm \
		go test -json -count=1 -timeout 30m ./quant/ ./model/... ./weights/ ./internal/npy/ ./synth/ ./wasm/ ./wasm/engine/ ./siteindex/
else
	not_run "go js/wasm" "node is not installed: the engine's js/wasm tests run in it"
fi

# tools/wasmbrowser runs the test binary in a worker of headless Chromium
# with kernels.js, as the page does. There TestSIMDHostHasKernels requires
# every variant (SIMD128, relaxed SIMD and its paired int8 kernel), the
# tests switch between them (use()), and a relaxed or pair subtest that
# would skip fails; Node 20 cannot run relaxed SIMD. -want
# fails the stage unless relaxed subtests ran and passed.
if [ -n "$chromium" ]; then
	stage browser -want '/relaxed' -- env CLIP4CLIP_SIMD=auto GOOS=js GOARCH=wasm \
		go test -json -count=1 -exec "$PWD/tools/wasmbrowser/run" ./quant/
else
	not_run browser "chromium is not installed: quant's SIMD kernels (SIMD128, relaxed SIMD) are not run in a browser"
fi

# The generated .wat/.wasm files up to date with gen.mjs (wabt), and the
# kernels' self-test.
if command -v node >/dev/null; then
	stage node -tap -pkg quant/simd/build.test.mjs -- node --test --test-reporter=tap quant/simd/build.test.mjs
else
	not_run node "node is not installed: quant/simd/build.test.mjs runs in it"
fi

fuzz=${CLIP4CLIP_FUZZ_SECONDS:-10}
step "fuzz targets, ${fuzz} s each (CLIP4CLIP_FUZZ_SECONDS=0 skips; not counted as tests)"
if [ "$fuzz" != 0 ] && ! tools/fuzz.sh "$fuzz"; then
	failed+=(fuzz)
fi

step "summary"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAIL: these stages failed: ${failed[*]}"
fi
# The last line is "N passed, N failed, N skipped".
"$work/testsum" -report "$tally" || true
[ ${#failed[@]} = 0 ]
