#!/usr/bin/env bash
# test.sh runs the whole test suite: vet for both builds, the native tests,
# and the model/quant/tokenizer/preprocess tests compiled to js/wasm and run
# in Node, so the code that runs in the browser is tested as wasm.
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
PATH="$(go env GOROOT)/lib/wasm:$PATH" GOOS=js GOARCH=wasm \
	go test -count=1 ./quant/ ./model/... ./weights/ ./internal/npy/ ./synth/
