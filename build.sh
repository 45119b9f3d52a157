#!/usr/bin/env bash
# build.sh builds the browser app: the engine for GOOS=js GOARCH=wasm into
# web/clip4clip.wasm, Go's wasm_exec.js beside it, quant's WebAssembly SIMD
# kernels (quant/simd) in web/simd/, and precompressed copies
# (.gz always, .br when the brotli tool is installed) that serve.go sends
# to browsers accepting them, weights/default.c4c (if there is one) as
# models/default.c4c, and version.js, the build's hash for the service
# worker's cache. web/demos/ holds the demo videos. Then: go run serve.go
#
#   ./build.sh          build into web/
#   ./build.sh DIR      assemble the whole app in DIR (web/ is copied there
#                       first and left untouched), as the e2e tests do
set -euo pipefail

out=web
if [ $# -gt 0 ]; then
	mkdir -p "$1"
	out=$(cd "$1" && pwd)
fi
cd "$(dirname "$0")"
if [ "$out" != web ]; then
	cp -R web/. "$out/"
fi

GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o "$out/clip4clip.wasm" ./wasm

root=$(go env GOROOT)
exec_js=
for d in lib/wasm misc/wasm; do
	if [ -f "$root/$d/wasm_exec.js" ]; then
		exec_js="$root/$d/wasm_exec.js"
		break
	fi
done
if [ -z "$exec_js" ]; then
	echo "build.sh: wasm_exec.js not found under $root/lib/wasm or $root/misc/wasm" >&2
	exit 1
fi
cp "$exec_js" "$out/wasm_exec.js"
chmod u+w "$out/wasm_exec.js"

# quant's WebAssembly SIMD kernels: the engine imports them as the module
# clip4clip_simd, which worker.js links in with kernels.js.
mkdir -p "$out/simd"
cp quant/simd/kernels.js quant/simd/kernels_relaxed.wasm quant/simd/kernels_simd.wasm "$out/simd/"
chmod u+w "$out"/simd/*

# The default model, when the repository has one: the page loads
# models/default.c4c by itself (web/lib/models.js). Without it the page
# asks for a model file.
if [ -f weights/default.c4c ]; then
	mkdir -p "$out/models"
	cp weights/default.c4c "$out/models/default.c4c"
	chmod u+w "$out/models/default.c4c"
fi

for f in "$out/clip4clip.wasm" "$out/wasm_exec.js" "$out/simd/kernels_relaxed.wasm" "$out/simd/kernels_simd.wasm"; do
	gzip -9 -n -k -f "$f"
	if command -v brotli >/dev/null; then
		brotli -q 11 -f -k -o "$f.br" "$f"
	else
		rm -f "$f.br" # an old one would no longer match
	fi
done

# version.js names the build for the service worker (sw.js): a hash of
# the app's files, so that a new build installs a new worker, which drops
# the old build's cache. The models and the compressed copies are left
# out (the page caches models itself; .gz/.br follow their files).
build=$(cd "$out" && find . -type f ! -path './models/*' ! -name version.js ! -name '*.gz' ! -name '*.br' -print0 |
	LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
printf "// Written by build.sh: the build the service worker (sw.js) caches.\nself.CLIP4CLIP_BUILD = '%s';\n" "$build" >"$out/version.js"

wasm_size=$(wc -c <"$out/clip4clip.wasm")
gz_size=$(wc -c <"$out/clip4clip.wasm.gz")
echo "built $out/clip4clip.wasm ($((wasm_size / 1024)) KiB, $((gz_size / 1024)) KiB gzipped); run: go run serve.go${1:+ -dir $out}"
