// Node tests of the kernel modules themselves: run with
//
//	node --test quant/simd/build.test.mjs
//
// (Go's tests in package quant check every kernel against the Go reference
// on many shapes; these need no Go.)
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadWabt, stale } from "./build.mjs";
import { selfTest, selfTestPair } from "./kernels.js";

test("committed .wat and .wasm files are up to date with gen.mjs", async (t) => {
  const wabt = await loadWabt();
  if (!wabt) {
    // As Go's testenv.Missing: a failure unless CLIP4CLIP_ALLOW_SKIP=1.
    const msg = "wabt is not installed (npm ci --prefix tools): cannot check quant/simd's generated files";
    const allow = process.env.CLIP4CLIP_ALLOW_SKIP;
    if (allow && allow !== "0") {
      t.skip(msg);
      return;
    }
    assert.fail(`${msg}; CLIP4CLIP_ALLOW_SKIP=1 skips this`);
  }
  assert.deepEqual(stale(wabt), [], "stale generated files: run node quant/simd/build.mjs and commit the result");
});

for (const v of ["simd", "relaxed"]) {
  test(`kernels_${v}.wasm passes its self-test`, (t) => {
    const bytes = readFileSync(new URL(`kernels_${v}.wasm`, import.meta.url));
    if (!WebAssembly.validate(bytes)) {
      t.skip(`this engine does not accept kernels_${v}.wasm`);
      return;
    }
    assert.ok(selfTest(new WebAssembly.Module(bytes)));
    if (v === "relaxed") assert.ok(selfTestPair(new WebAssembly.Module(bytes)), "its paired int8 kernel");
  });
}
