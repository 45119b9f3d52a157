// wasm_exec_node.js is $(go env GOROOT)/lib/wasm/wasm_exec_node.js plus
// the clip4clip_simd import module (quant/simd/kernels.js). Usage:
//
//	node wasm_exec_node.js GOROOT/lib/wasm program.wasm [arguments]
//
// go_js_wasm_exec beside it fills in the first argument.
"use strict";

if (process.argv.length < 4) {
	console.error("usage: go_js_wasm_exec [wasm binary] [arguments]");
	process.exit(1);
}
const goWasmDir = process.argv[2];
const binary = process.argv[3];

// Node 20 has relaxed SIMD behind a flag; the kernels choose it when the
// engine validates their module, so turn it on before anything compiles.
const simdDir = require("path").join(__dirname, "..", "..", "quant", "simd");
if (!WebAssembly.validate(require("fs").readFileSync(require("path").join(simdDir, "kernels_relaxed.wasm")))) {
	require("v8").setFlagsFromString("--experimental-wasm-relaxed-simd");
	// Node 20's baseline compiler miscompiles relaxed dot (kernels.js's
	// selfTest catches it and falls back to SIMD128); to run the relaxed
	// kernels anyway, CLIP4CLIP_SIMD=relaxed compiles everything with the
	// optimising compiler only.
	if (process.env.CLIP4CLIP_SIMD === "relaxed" || process.env.CLIP4CLIP_SIMD === "pair") {
		require("v8").setFlagsFromString("--no-liftoff");
	}
}

globalThis.require = require;
globalThis.fs = require("fs");
globalThis.path = require("path");
globalThis.TextEncoder = require("util").TextEncoder;
globalThis.TextDecoder = require("util").TextDecoder;

globalThis.performance ??= require("performance");

// CLIP4CLIP_CLOCK=cpu makes Go's monotonic clock (runtime.nanotime, hence
// the benchmark timers) count this process's CPU time instead of wall time:
// on a shared machine, other processes then stop inflating ns/op. Timers
// and sleeps stretch accordingly; use it for benchmarks only.
if (process.env.CLIP4CLIP_CLOCK === "cpu") {
	const cpuMs = () => {
		const u = process.cpuUsage();
		return (u.user + u.system) / 1000;
	};
	globalThis.performance = { now: cpuMs, timeOrigin: 0 };
}

globalThis.crypto ??= require("crypto");

require(path.join(goWasmDir, "wasm_exec.js"));

const go = new Go();
go.argv = process.argv.slice(3);
go.env = Object.assign({ TMPDIR: require("os").tmpdir() }, process.env);
go.exit = process.exit;

(async () => {
	const { loadKernels } = await import(require("url").pathToFileURL(path.join(simdDir, "kernels.js")));
	Object.assign(go.importObject, await loadKernels(go, {
		variant: process.env.CLIP4CLIP_SIMD || "auto",
		// Node 20 without CLIP4CLIP_SIMD=relaxed: expected, say nothing.
		warn: process.env.CLIP4CLIP_SIMD ? console.warn : () => {},
	}));
	const result = await WebAssembly.instantiate(fs.readFileSync(binary), go.importObject);
	process.on("exit", (code) => { // Node.js exits if no event handler is pending
		if (code === 0 && !go.exited) {
			// deadlock, make Go print error and stack traces
			go._pendingEvent = { id: 0 };
			go._resume();
		}
	});
	return go.run(result.instance);
})().catch((err) => {
	console.error(err);
	process.exit(1);
});
