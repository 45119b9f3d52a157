#!/usr/bin/env bash
# setup.sh makes this machine ready for test.sh, which runs it first:
#
#   ../shared/fixtures   checked first (it cannot be installed: the
#                        reference outputs of the original CLIP and
#                        CLIP4Clip code, which CI puts beside the checkout)
#   go                   checked (https://go.dev/dl/), then go mod download
#   node, npm            installed with apt-get where missing (nodejs, npm)
#   ffmpeg, ffprobe      installed with apt-get where missing (ffmpeg)
#   chromium             chromium, chromium-browser or google-chrome on PATH,
#                        or $CHROMIUM; installed with apt-get where missing
#   tools/node_modules   npm ci --prefix tools (wabt) where wabt is missing
#
# apt-get is used when it is usable: as root, or through sudo -n. What is
# still missing then ends the run with a message naming it and how to get
# it, unless CLIP4CLIP_ALLOW_SKIP=1 (any value but "" and 0): then it warns,
# and the tests that need it skip and are listed at the end of test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

allow_skip() { [ -n "${CLIP4CLIP_ALLOW_SKIP:-}" ] && [ "${CLIP4CLIP_ALLOW_SKIP}" != 0 ]; }
missing=() # "what (how to get it)"
# give_up prints what is missing and exits 1, or under CLIP4CLIP_ALLOW_SKIP
# warns and returns.
give_up() {
	local m
	if allow_skip; then
		for m in "${missing[@]}"; do echo "setup: WARNING: missing $m; CLIP4CLIP_ALLOW_SKIP is set, so the tests that need it skip" >&2; done
		return 0
	fi
	echo "setup: this machine lacks what the tests need:" >&2
	for m in "${missing[@]}"; do echo "  - $m" >&2; done
	echo "Get it as each line says and run ./test.sh again, or run CLIP4CLIP_ALLOW_SKIP=1 ./test.sh to skip the tests that need it (test.sh lists them at the end)." >&2
	exit 1
}

# The fixtures first: without them about 100 tests fail, better said at once.
if [ ! -d ../shared/fixtures ]; then
	missing+=("../shared/fixtures ($(cd .. && pwd)/shared/fixtures): the reference outputs of the original CLIP and CLIP4Clip code (openai/CLIP, ArrowLuo/CLIP4Clip) that the model, tokenizer, preprocessing, weights and training tests compare against; CI puts it beside the checkout, and it cannot be installed from here")
	give_up
	missing=()
fi

if ! command -v go >/dev/null; then
	echo "setup: go is not on PATH: test.sh needs Go 1.26 (https://go.dev/dl/)" >&2
	exit 1
fi
if ! go mod download; then
	echo "setup: go mod download failed: the first run needs the network to fetch the Go modules in go.mod (proxy.golang.org, or GOPROXY)" >&2
	exit 1
fi

# chromium_cmd prints the Chromium the tests will use ($CHROMIUM, or the
# first of the names they look for), or fails.
chromium_cmd() {
	local n
	for n in "${CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
		[ -n "$n" ] && command -v "$n" && return 0
	done
	return 1
}

# need lists the apt packages of the missing commands.
need() {
	local pkgs=()
	command -v node >/dev/null || pkgs+=(nodejs)
	command -v npm >/dev/null || pkgs+=(npm)
	{ command -v ffmpeg && command -v ffprobe; } >/dev/null || pkgs+=(ffmpeg)
	if [ -z "${CHROMIUM:-}" ]; then chromium_cmd >/dev/null || pkgs+=(chromium); fi
	echo "${pkgs[*]}"
}

pkgs=$(need)
if [ -n "$pkgs" ]; then
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo -n)
	if command -v apt-get >/dev/null && { [ ${#sudo[@]} = 0 ] || sudo -n true 2>/dev/null; }; then
		echo "setup: installing $pkgs with apt-get"
		if "${sudo[@]}" apt-get update -qq; then
			# Ubuntu names it chromium-browser.
			if [[ " $pkgs " == *" chromium "* ]] && ! apt-cache show chromium >/dev/null 2>&1 &&
				apt-cache show chromium-browser >/dev/null 2>&1; then
				pkgs=${pkgs/chromium/chromium-browser}
			fi
			# shellcheck disable=SC2086 # $pkgs is a list of names
			"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null ||
				echo "setup: apt-get install $pkgs failed" >&2
		else
			echo "setup: apt-get update failed" >&2
		fi
	else
		echo "setup: $pkgs missing, and apt-get is not usable here (not root, no sudo -n)" >&2
	fi
fi

command -v node >/dev/null || missing+=("node (Node.js 18 or later: apt-get install -y nodejs, or https://nodejs.org): runs the js/wasm tests and quant/simd's Node tests")
command -v npm >/dev/null || missing+=("npm (apt-get install -y npm): installs wabt into tools/node_modules")
command -v ffmpeg >/dev/null || missing+=("ffmpeg (apt-get install -y ffmpeg): the index, synth and browser tests make and decode videos")
command -v ffprobe >/dev/null || missing+=("ffprobe (apt-get install -y ffmpeg)")
if ! chromium_cmd >/dev/null; then
	if [ -n "${CHROMIUM:-}" ]; then
		missing+=("chromium: CHROMIUM=$CHROMIUM is not a command")
	else
		missing+=("chromium (apt-get install -y chromium; chromium-browser or google-chrome on PATH, or CHROMIUM=/path/to/chrome, also do): the browser tests and quant's kernels in Chromium")
	fi
fi

# wabt, for the staleness check of quant/simd's generated kernels.
if [ ! -d tools/node_modules/wabt ] && command -v npm >/dev/null; then
	echo "setup: npm ci --prefix tools (wabt)"
	npm ci --prefix tools --no-audit --no-fund >/dev/null ||
		missing+=("tools/node_modules/wabt: npm ci --prefix tools failed (the first run needs the network to reach the npm registry)")
fi
[ -d tools/node_modules/wabt ] || command -v npm >/dev/null ||
	missing+=("tools/node_modules/wabt (npm ci --prefix tools, once npm is installed)")

[ ${#missing[@]} = 0 ] || give_up
if [ ${#missing[@]} = 0 ]; then
	echo "setup: go $(go env GOVERSION), node $(node --version), $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $(chromium_cmd)"
fi
