// worker.js runs the Go program in a dedicated worker, as
// tools/wasmexec/wasm_exec_node.js runs it in Node: wasm_exec.js's Go,
// quant's kernels from kernels.js (loadKernels) as the import module
// clip4clip_simd, argv and env from /config.json. It posts to the page,
// which passes each message on to wasmbrowser:
//
//	{t: "start", variant}  the kernels in use (0 none, 1 simd, 2 relaxed), before Go runs
//	{t: "out", fd, s}      bytes Go wrote to fd 1 or 2, one char per byte
//	{t: "exit", code}      Go exited
//	{t: "error", msg}      anything else that ends the run

const post = (m) => postMessage(m);
const describe = (e) => (e instanceof Error ? (e.stack?.includes(e.message) ? e.stack : `${e.name}: ${e.message}\n${e.stack ?? ""}`) : String(e));

self.addEventListener("unhandledrejection", (e) => post({ t: "error", msg: `unhandled rejection in the worker: ${describe(e.reason)}` }));

// bytes returns buf as a string of one char per byte: the exact bytes Go
// wrote, whatever their encoding, through JSON to wasmbrowser.
function bytes(buf) {
  let s = "";
  for (let i = 0; i < buf.length; i += 8192) s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192));
  return s;
}

try {
  const cfg = await (await fetch("/config.json")).json();
  await import("/wasm_exec.js"); // a classic script; it sets globalThis.Go and a stub fs
  // The stub fs prints whole lines with console.log, stdout and stderr
  // alike; send every write, on its fd, as it comes instead.
  globalThis.fs.writeSync = (fd, buf) => {
    post({ t: "out", fd, s: bytes(buf) });
    return buf.length;
  };
  const go = new Go();
  go.argv = cfg.argv;
  go.env = cfg.env;
  go.exit = (code) => post({ t: "exit", code });

  const { loadKernels } = await import("/simd/kernels.js");
  const kernels = await loadKernels(go, {
    variant: cfg.variant,
    warn: (m) => post({ t: "out", fd: 2, s: `wasmbrowser: ${m}\n` }),
  });
  Object.assign(go.importObject, kernels);
  const resp = await fetch("/prog.wasm");
  if (!resp.ok) throw new Error(`fetching the program: HTTP ${resp.status}`);
  const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
  const timings = kernels.clip4clip_simd.info?.timings ?? {};
  post({ t: "start", variant: kernels.clip4clip_simd.variant(), msg: Object.keys(timings).length ? `timed int8 product: ${Object.entries(timings).map(([v, ms]) => `${v} ${ms.toFixed(3)} ms`).join(", ")}` : "" });
  await go.run(instance); // resolves once Go has exited, after go.exit
} catch (e) {
  post({ t: "error", msg: describe(e) });
}
