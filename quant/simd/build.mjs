// build.mjs regenerates the kernel modules: gen.mjs -> kernels_*.wat ->
// (wabt) kernels_*.wasm, both written beside this file and committed, so
// that building the Go program and serving the web app need neither Node
// nor wabt.
//
//	npm ci --prefix tools            # once: installs wabt
//	node quant/simd/build.mjs        # rewrite the .wat and .wasm files
//	node quant/simd/build.mjs -check # exit 1 if a committed file is stale
//
// Exit status 2 means wabt is not installed (the check cannot run).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { generate } from "./gen.mjs";

export const variants = { simd: { relaxed: false }, relaxed: { relaxed: true } };

const here = (name) => new URL(name, import.meta.url);

// loadWabt returns the wabt module from tools/node_modules, or null.
export async function loadWabt() {
  const require = createRequire(new URL("../../tools/package.json", import.meta.url));
  try {
    return await require("wabt")();
  } catch (e) {
    if (e.code === "MODULE_NOT_FOUND") return null;
    throw e;
  }
}

// assemble returns the binary of the WebAssembly text src.
export function assemble(wabt, name, src) {
  const m = wabt.parseWat(name, src, { simd: true, relaxed_simd: true, sat_float_to_int: true });
  try {
    m.validate();
    return Buffer.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

// outputs returns {file name: contents} for every generated file.
export function outputs(wabt) {
  const out = {};
  for (const [v, opts] of Object.entries(variants)) {
    const wat = generate(opts);
    out[`kernels_${v}.wat`] = Buffer.from(wat);
    out[`kernels_${v}.wasm`] = assemble(wabt, `kernels_${v}.wat`, wat);
  }
  return out;
}

// stale returns the names of the committed files that differ from a fresh build.
export function stale(wabt) {
  return Object.entries(outputs(wabt))
    .filter(([name, want]) => {
      try {
        return !want.equals(readFileSync(here(name)));
      } catch {
        return true;
      }
    })
    .map(([name]) => name);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const wabt = await loadWabt();
  if (!wabt) {
    console.error("build.mjs: wabt is not installed; run: npm ci --prefix tools");
    process.exit(2);
  }
  if (process.argv.includes("-check")) {
    const bad = stale(wabt);
    if (bad.length) {
      console.error(`quant/simd: ${bad.join(", ")} out of date with gen.mjs; run: node quant/simd/build.mjs`);
      process.exit(1);
    }
  } else {
    for (const [name, data] of Object.entries(outputs(wabt))) {
      writeFileSync(here(name), data);
      console.log(`${name}: ${data.length} bytes`);
    }
  }
}
