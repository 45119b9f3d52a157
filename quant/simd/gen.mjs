// gen.mjs writes the WebAssembly text of the SIMD matmul kernels. One
// definition per kernel; the register blocks are unrolled here rather than
// by hand, so the two variants (plain SIMD128 and relaxed SIMD) and the
// block sizes come from the same code. build.mjs assembles the output with
// wabt; the generated .wat files are committed beside the .wasm for reading.
//
// Every kernel computes, for output columns [lo, hi),
//
//	dst[i*out + j] = sum_k x[i*in + k] * W[j*in + k] + bias[j]
//
// which is quant.LinearRef: x (n, in) f32 row-major, W (out, in) row-major
// in f32, f16 or int8, dst (n, out). Pointers are byte addresses in the Go
// instance's memory; the module imports that memory as go.mem.
//
// The shape of the computation (dot form, no packing of W): for each block
// of 4 rows of W (columns j..j+3 of dst), walk the rows of x MR at a time
// and keep MR*4 vector accumulators over k; at the end of k the four
// accumulators of an x row are transposed and added into one vector, which
// is exactly dst[i, j:j+4]. The 4 rows of W (12 KB at in=768) stay in L1
// while all of x passes by. f16 rows are widened once per block into a
// scratch buffer and then run through the f32 kernel. int8 multiplies
// integers: x is quantised per row (to i16 for SIMD128, i32x4.dot_i16x8_s;
// to unsigned 7 bits with a zero point for relaxed SIMD,
// i32x4.relaxed_dot_i8x16_i7x16_add_s), and each block of k is converted
// to f32 and scaled once.

// Register blocking: rows of x per micro-kernel call (the other dimension,
// rows of W, is always 4) and how many k steps one loop iteration takes.
// V8 has 16 xmm registers and hoists every load of an iteration to its top:
// 2x4 accumulators, 4 W vectors and 2 x vectors fit; 3x4 or a second
// unrolled step spill accumulators to the stack. Measured under Node 20
// (CPU time, (50, 768) x (3072, 768)): f32 2x4 unroll 1 at 32 GFLOP/s
// (43 with relaxed_madd) against 28 (31) for 2x4 unroll 2 and 3x4.
export const defaults = { mrF32: 2, mrI8: 2, unroll: 1 };

const L = (n) => `(local.get $${n})`;
const set = (n, e) => `(local.set $${n} ${e})`;
const i32 = (v) => `(i32.const ${v})`;
const add = (a, b) => `(i32.add ${a} ${b})`;
const mul = (a, b) => `(i32.mul ${a} ${b})`;

// lanes32 gives i8x16.shuffle's byte indices for four 32-bit lanes taken
// from the 8 lanes of two vectors.
const lanes32 = (...l) => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]).join(" ");
const shuf = (a, b, ...l) => `(i8x16.shuffle ${lanes32(...l)} ${a} ${b})`;

// reduce4 sets local v to [sum(a0), sum(a1), sum(a2), sum(a3)] with vadd
// (f32x4.add or i32x4.add): two rounds of interleave-and-add.
function reduce4(vadd, a, v) {
  const [a0, a1, a2, a3] = a.map(L);
  return [
    set("u01", `(${vadd} ${shuf(a0, a1, 0, 4, 1, 5)} ${shuf(a0, a1, 2, 6, 3, 7)})`),
    set("u23", `(${vadd} ${shuf(a2, a3, 0, 4, 1, 5)} ${shuf(a2, a3, 2, 6, 3, 7)})`),
    set(v, `(${vadd} ${shuf(L("u01"), L("u23"), 0, 1, 4, 5)} ${shuf(L("u01"), L("u23"), 2, 3, 6, 7)})`),
  ];
}

const locals = (type, names) => names.map((n) => `(local $${n} ${type})`).join(" ");
const range = (n) => [...Array(n).keys()];
const indent = (lines, d) => lines.flat(Infinity).map((l) => " ".repeat(d) + l).join("\n");
// ind indents nested lines by two more spaces (inside a loop).
const ind = (...lines) => lines.flat(Infinity).map((l) => "  " + l);

// rowPointers sets w0..w3 to the 4 rows of W from pw (stride ws bytes),
// repeating the last valid row when only nc < 4 columns remain: their
// lanes are computed and never stored.
function rowPointers() {
  return range(4).map((c) =>
    c === 0
      ? set("w0", L("pw"))
      : set(`w${c}`, `(select ${add(L(`w${c - 1}`), L("ws"))} ${L(`w${c - 1}`)} (i32.gt_u ${L("nc")} ${i32(c)}))`),
  );
}

// f32 micro-kernel: R rows of x by 4 rows of W, full length in.
function mkF32(R, U, relaxed) {
  const acc = (r, c) => `a${r}${c}`;
  const madd = (a, x, w) =>
    relaxed ? set(a, `(f32x4.relaxed_madd ${x} ${w} ${L(a)})`) : set(a, `(f32x4.add ${L(a)} (f32x4.mul ${x} ${w}))`);
  // step: one k step of 4 floats at byte offset off from k.
  const step = (off) => [
    range(4).map((c) => set(`v${c}`, `(v128.load offset=${off} align=4 ${add(L(`w${c}`), L("k"))})`)),
    range(R).map((r) => [
      set("xv", `(v128.load offset=${off} align=4 ${add(L(`x${r}`), L("k"))})`),
      range(4).map((c) => madd(acc(r, c), L("xv"), L(`v${c}`))),
    ]),
  ];
  const body = [
    rowPointers(),
    range(R).map((r) => set(`x${r}`, add(L("px"), mul(L("xs"), i32(r))))),
    range(R).map((r) => range(4).map((c) => set(acc(r, c), "(v128.const i64x2 0 0)"))),
    `;; main loop: ${U} steps of 4 floats`,
    set("kend", `(i32.shl (i32.and ${L("in")} ${i32(-4 * U)}) (i32.const 2))`),
    set("k", i32(0)),
    `(if (i32.gt_u ${L("kend")} (i32.const 0)) (then (loop $k`,
    ind(range(U).map((u) => step(16 * u))),
    `  ${set("k", add(L("k"), i32(16 * U)))}`,
    `  (br_if $k (i32.lt_u ${L("k")} ${L("kend")})))))`,
    `;; the remaining whole steps of 4`,
    `(block $rest (loop $r`,
    `  (br_if $rest (i32.ge_u ${L("k")} (i32.shl (i32.and ${L("in")} (i32.const -4)) (i32.const 2))))`,
    ind(step(0)),
    `  ${set("k", add(L("k"), i32(16)))}`,
    `  (br $r)))`,
    range(R).map((r) => [
      `;; row ${r}: [sum(a${r}0) .. sum(a${r}3)] + scalar tail + bias`,
      reduce4("f32x4.add", range(4).map((c) => acc(r, c)), "s"),
      `(if (i32.and ${L("in")} (i32.const 3)) (then ${set(
        "s",
        `(call $tail_f32 ${L("s")} ${L(`x${r}`)} ${L("w0")} ${L("w1")} ${L("w2")} ${L("w3")} (i32.and ${L("in")} (i32.const -4)) ${L("in")})`,
      )}))`,
      `(if ${L("pb")} (then ${set("s", `(f32x4.add ${L("s")} (call $load_part ${L("pb")} ${L("nc")}))`)}))`,
      `(call $store_part ${add(L("pd"), mul(L("ds"), i32(r)))} ${L("s")} ${L("nc")})`,
    ]),
  ];
  return `
  ;; mk_f32_${R}: dst rows 0..${R - 1} (stride ds bytes) at columns j..j+nc-1 from
  ;; ${R} rows of x at px (stride xs) and nc rows of W at pw (stride ws).
  (func $mk_f32_${R} (param $px i32) (param $xs i32) (param $pw i32) (param $ws i32) (param $in i32)
      (param $pd i32) (param $ds i32) (param $pb i32) (param $nc i32)
    ${locals("i32", ["w0", "w1", "w2", "w3", ...range(R).map((r) => `x${r}`), "k", "kend"])}
    ${locals("v128", [...range(R).flatMap((r) => range(4).map((c) => acc(r, c))), "v0", "v1", "v2", "v3", "xv", "u01", "u23", "s"])}
${indent(body, 4)})`;
}

// The f32 driver walks 4 rows of W at a time, x MR rows at a time.
// f16 widens the 4 rows into scratch first and runs the same loop on it.
// kind "matmul" is quant.MatMulT, the f32 loop over strided views:
// matmul_t(a, lda, b, ldb, dst, ldd, m, n, k) is dst(m, n) = a(m, k) b(n, k)^T
// with row strides in floats (linear_f32 with x = a, W = b, no bias).
function driverF32(MR, kind) {
  const f16 = kind === "f16";
  const call = (R) =>
    `(call $mk_f32_${R} ${add(L("x"), mul(L("i"), L("xs")))} ${L("xs")} ${L("pw")} ${L("ws")} ${L("in")} ${add(
      L("pd"),
      mul(L("i"), L("ds")),
    )} ${L("ds")} ${L("pb")} ${L("nc")})`;
  const widen = f16
    ? [
        `;; widen the nc rows of f16 weights into scratch, in f32`,
        set("c", i32(0)),
        `(loop $c`,
        `  (call $widen_f16 ${add(L("w"), mul(add(L("j"), L("c")), L("hs")))} ${add(L("scratch"), mul(L("c"), L("xs")))} ${L("in")})`,
        `  ${set("c", add(L("c"), i32(1)))}`,
        `  (br_if $c (i32.lt_u ${L("c")} ${L("nc")})))`,
        set("pw", L("scratch")),
      ]
    : [set("pw", add(L("w"), mul(L("j"), L("ws"))))];
  const head =
    kind === "matmul"
      ? `
  (func (export "matmul_t") (param $x i32) (param $lda i32) (param $w i32) (param $ldb i32) (param $dst i32) (param $ldd i32)
      (param $n i32) (param $hi i32) (param $in i32) (result i32)
    ${locals("i32", ["i", "j", "c", "nc", "pw", "pb", "pd", "xs", "ws", "ds", "bias", "lo"])}
    ${set("xs", `(i32.shl ${L("lda")} (i32.const 2))`)}
    ${set("ws", `(i32.shl ${L("ldb")} (i32.const 2))`)}
    ${set("ds", `(i32.shl ${L("ldd")} (i32.const 2))`)}`
      : `
  (func (export "${f16 ? "linear_f16" : "linear_f32"}") (param $w i32) (param $x i32) (param $dst i32) (param $bias i32)
      (param $n i32) (param $in i32) (param $out i32) (param $lo i32) (param $hi i32)${f16 ? " (param $scratch i32)" : ""} (result i32)
    ${locals("i32", ["i", "j", "c", "nc", "pw", "pb", "pd", "xs", "ws", "ds", "hs"])}
    ${set("xs", `(i32.shl ${L("in")} (i32.const 2))`)}
    ${set("ws", L("xs"))}
    ${set("hs", `(i32.shl ${L("in")} (i32.const 1))`)}
    ${set("ds", `(i32.shl ${L("out")} (i32.const 2))`)}`;
  return `${head}
    (if (i32.or (i32.ge_s ${L("lo")} ${L("hi")}) (i32.or (i32.le_s ${L("n")} (i32.const 0)) (i32.le_s ${L("in")} (i32.const 0))))
      (then (return (i32.const 0))))
    ${set("j", L("lo"))}
    (loop $j
${indent(
  [
    set("nc", `(call $min ${i32(4)} (i32.sub ${L("hi")} ${L("j")}))`),
    widen,
    set("pb", `(select ${add(L("bias"), `(i32.shl ${L("j")} (i32.const 2))`)} (i32.const 0) ${L("bias")})`),
    set("pd", add(L("dst"), `(i32.shl ${L("j")} (i32.const 2))`)),
    set("i", i32(0)),
    `(block $done`,
    `  (loop $rows`,
    `    (br_if $done (i32.gt_s (i32.add ${L("i")} ${i32(MR)}) ${L("n")}))`,
    `    ${call(MR)}`,
    `    ${set("i", add(L("i"), i32(MR)))}`,
    `    (br $rows)))`,
    `(block $done1`,
    `  (loop $rows1`,
    `    (br_if $done1 (i32.ge_s ${L("i")} ${L("n")}))`,
    `    ${call(1)}`,
    `    ${set("i", add(L("i"), i32(1)))}`,
    `    (br $rows1)))`,
    set("j", add(L("j"), i32(4))),
    `(br_if $j (i32.lt_s ${L("j")} ${L("hi")}))`,
  ],
  6,
)})
    (i32.const 1))`;
}

// h2f converts 4 IEEE halves (zero-extended into i32 lanes, local h) to
// f32 bit patterns exactly, zero, subnormals, infinities and NaNs included:
// normal numbers rebias the exponent (+112 << 23), inf/NaN get a further
// +112, subnormals are em * 2^-24 computed in f32 (exact).
function h2f(h) {
  const c = (v) => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;
  return [
    set("em", `(v128.and ${h} ${c("0x7fff")})`),
    set("hn", `(i32x4.add (i32x4.shl ${L("em")} (i32.const 13)) ${c("0x38000000")})`),
    set("hn", `(i32x4.add ${L("hn")} (v128.and (i32x4.gt_s ${L("em")} ${c("0x7bff")}) ${c("0x38000000")}))`),
    set(
      "hn",
      `(v128.bitselect (f32x4.mul (f32x4.convert_i32x4_s ${L("em")}) (v128.const f32x4 0x1p-24 0x1p-24 0x1p-24 0x1p-24)) ${L(
        "hn",
      )} (i32x4.lt_s ${L("em")} ${c("0x400")}))`,
    ),
    set("hn", `(v128.or ${L("hn")} (i32x4.shl (v128.and ${h} ${c("0x8000")}) (i32.const 16)))`),
  ];
}

function widenF16() {
  return `
  ;; widen_f16 writes n f32 values at dst from n IEEE halves at src.
  (func $widen_f16 (param $src i32) (param $dst i32) (param $n i32)
    (local $k i32) (local $h v128) (local $em v128) (local $hn v128)
    (block $done (loop $k8
      (br_if $done (i32.gt_s (i32.add ${L("k")} (i32.const 8)) ${L("n")}))
      ${set("h", `(v128.load align=2 ${add(L("src"), `(i32.shl ${L("k")} (i32.const 1))`)})`)}
${indent(h2f(`(i32x4.extend_low_i16x8_u ${L("h")})`), 6)}
      (v128.store align=4 ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 2))`)} ${L("hn")})
${indent(h2f(`(i32x4.extend_high_i16x8_u ${L("h")})`), 6)}
      (v128.store offset=16 align=4 ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 2))`)} ${L("hn")})
      ${set("k", add(L("k"), i32(8)))}
      (br $k8)))
    (block $done1 (loop $k1
      (br_if $done1 (i32.ge_s ${L("k")} ${L("n")}))
${indent(h2f(`(i32x4.splat (i32.load16_u ${add(L("src"), `(i32.shl ${L("k")} (i32.const 1))`)}))`), 6)}
      (f32.store ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 2))`)} (f32x4.extract_lane 0 ${L("hn")}))
      ${set("k", add(L("k"), i32(1)))}
      (br $k1))))`;
}

// int8 micro-kernel: R rows of quantised x by 4 rows of int8 W, block by
// block of k. Per block: integer dots, [4 sums] (- zp * wsum for relaxed),
// to f32, times the 4 rows' scales; at the end times the row's x scale.
function mkI8(R, U, relaxed, pair = false) {
  const C = relaxed ? 16 : 8; // elements per k step
  const P = pair ? "p" : ""; // function name suffix of the paired kernel
  const xb = relaxed ? 1 : 2; // bytes per quantised x element
  const acc = (r, c) => `a${r}${c}`;
  const step = (off) => [
    range(4).map((c) =>
      set(
        `v${c}`,
        relaxed
          ? `(v128.load offset=${off} align=1 ${add(L(`w${c}`), L("k"))})`
          : `(v128.load offset=${off * 2} align=2 ${add(L(`w${c}`), L("k2"))})`,
      ),
    ),
    range(R).map((r) => [
      set("xv", `(v128.load offset=${off * xb} align=${xb} ${add(L(`x${r}`), relaxed ? L("k") : L("k2"))})`),
      range(4).map((c) =>
        relaxed
          ? set(acc(r, c), `(i32x4.relaxed_dot_i8x16_i7x16_add_s ${L(`v${c}`)} ${L("xv")} ${L(acc(r, c))})`)
          : set(acc(r, c), `(i32x4.add ${L(acc(r, c))} (i32x4.dot_i16x8_s ${L("xv")} ${L(`v${c}`)}))`),
      ),
    ]),
  ];
  // pair (relaxed only, x in 0..63): i16x8.relaxed_dot_i8x16_i7x16_s sums
  // each two products in i16 (one instruction, x86's pmaddubsw, with or
  // without VNNI), two k steps are added in i16, and only then widened to
  // i32 (extadd_pairwise: a second multiply on x86). |w| <= 128 and x <= 63
  // bound the i16 sum by 2 * 2 * 128 * 63 = 32256 < 2^15: nothing saturates
  // or wraps, so the result is exact on every engine. The plain relaxed
  // kernel's i32 dot costs x86 without VNNI both multiplies per step.
  const pairStep = (off) => [
    range(R).map((r) => [
      set(`x${r}a`, `(v128.load offset=${off} align=1 ${add(L(`x${r}`), L("k"))})`),
      set(`x${r}b`, `(v128.load offset=${off + 16} align=1 ${add(L(`x${r}`), L("k"))})`),
    ]),
    range(4).map((c) => [
      set("wa", `(v128.load offset=${off} align=1 ${add(L(`w${c}`), L("k"))})`),
      set("wb", `(v128.load offset=${off + 16} align=1 ${add(L(`w${c}`), L("k"))})`),
      range(R).map((r) =>
        set(
          acc(r, c),
          `(i32x4.add ${L(acc(r, c))} (i32x4.extadd_pairwise_i16x8_s (i16x8.add (i16x8.relaxed_dot_i8x16_i7x16_s ${L("wa")} ${L(`x${r}a`)}) (i16x8.relaxed_dot_i8x16_i7x16_s ${L("wb")} ${L(`x${r}b`)}))))`,
        ),
      ),
    ]),
  ];
  const pairSingle = () => [
    range(4).map((c) => set(`v${c}`, `(v128.load align=1 ${add(L(`w${c}`), L("k"))})`)),
    range(R).map((r) => [
      set("xv", `(v128.load align=1 ${add(L(`x${r}`), L("k"))})`),
      range(4).map((c) => set(acc(r, c), `(i32x4.add ${L(acc(r, c))} (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s ${L(`v${c}`)} ${L("xv")})))`)),
    ]),
  ];
  const CU = pair ? 2 * C : C * U; // elements per main-loop iteration
  const mainStep = pair ? pairStep(0) : range(U).map((u) => step(C * u));
  const restStep = pair ? pairSingle() : step(0);
  const k2 = relaxed ? [] : [set("k2", `(i32.shl ${L("k")} (i32.const 1))`)];
  const body = [
    rowPointers(),
    range(R).map((r) => [set(`x${r}`, add(L("px"), mul(L("xs"), i32(r)))), set(`f${r}`, "(v128.const i64x2 0 0)")]),
    set("kb", i32(0)),
    set("b", i32(0)),
    `(loop $blocks`,
    [
      `;; this block's k range [kb, kend), kend rounded up to whole steps (x is zero-padded)`,
      set(
        "kend",
        add(
          L("kb"),
          `(i32.and (i32.add (i32.sub (call $min (i32.add ${L("kb")} ${L("blk")}) ${L("in")}) ${L("kb")}) ${i32(C - 1)}) ${i32(-C)})`,
        ),
      ),
      range(R).map((r) => range(4).map((c) => set(acc(r, c), "(v128.const i64x2 0 0)"))),
      set("k", L("kb")),
      `(block $main (loop $k`,
      `  (br_if $main (i32.gt_s (i32.add ${L("k")} ${i32(CU)}) ${L("kend")}))`,
      ind(k2, mainStep),
      `  ${set("k", add(L("k"), i32(CU)))}`,
      `  (br $k)))`,
      `(block $rest (loop $r`,
      `  (br_if $rest (i32.ge_s ${L("k")} ${L("kend")}))`,
      ind(k2, restStep),
      `  ${set("k", add(L("k"), i32(C)))}`,
      `  (br $r)))`,
      set("sw", `(v128.load align=4 ${add(L("pswv"), `(i32.shl ${L("b")} (i32.const 4))`)})`),
      relaxed ? set("ws4", `(v128.load align=4 ${add(L("pwsum"), `(i32.shl ${L("b")} (i32.const 4))`)})`) : [],
      range(R).map((r) => [
        reduce4("i32x4.add", range(4).map((c) => acc(r, c)), "s"),
        relaxed
          ? set("s", `(i32x4.sub ${L("s")} (i32x4.mul ${L("ws4")} (i32x4.splat (i32.load offset=${4 * r} ${L("pzp")}))))`)
          : [],
        relaxed
          ? set(`f${r}`, `(f32x4.relaxed_madd (f32x4.convert_i32x4_s ${L("s")}) ${L("sw")} ${L(`f${r}`)})`)
          : set(`f${r}`, `(f32x4.add ${L(`f${r}`)} (f32x4.mul (f32x4.convert_i32x4_s ${L("s")}) ${L("sw")}))`),
      ]),
      set("kb", add(L("kb"), L("blk"))),
      set("b", add(L("b"), i32(1))),
      `(br_if $blocks (i32.lt_s ${L("b")} ${L("nb")}))`,
    ].map((l) => (Array.isArray(l) ? l.flat(Infinity).map((s) => "  " + s) : "  " + l)),
    `)`,
    range(R).map((r) => [
      set("s", `(f32x4.mul ${L(`f${r}`)} (f32x4.splat (f32.load offset=${4 * r} ${L("psx")})))`),
      `(if ${L("pb")} (then ${set("s", `(f32x4.add ${L("s")} (call $load_part ${L("pb")} ${L("nc")}))`)}))`,
      `(call $store_part ${add(L("pd"), mul(L("ds"), i32(r)))} ${L("s")} ${L("nc")})`,
    ]),
  ];
  return `
  ;; mk_i8${P}_${R}: dst rows 0..${R - 1} at columns j..j+nc-1 from ${R} rows of quantised x${pair ? " (0..63)" : ""}
  ;; at px (stride xs bytes) and nc rows of int8 W at pw (stride ws = in bytes).
  ;; pswv/pwsum: per block, the 4 rows' scales (f32x4) and weight sums (i32x4);
  ;; psx/pzp: the x rows' scales (f32) and zero points (i32).
  (func $mk_i8${P}_${R} (param $px i32) (param $xs i32) (param $pw i32) (param $ws i32) (param $in i32)
      (param $nb i32) (param $blk i32) (param $pswv i32) (param $pwsum i32) (param $psx i32) (param $pzp i32)
      (param $pd i32) (param $ds i32) (param $pb i32) (param $nc i32)
    ${locals("i32", ["w0", "w1", "w2", "w3", ...range(R).map((r) => `x${r}`), "k", "k2", "kb", "kend", "b"])}
    ${locals("v128", [
      ...range(R).flatMap((r) => range(4).map((c) => acc(r, c))),
      ...range(R).map((r) => `f${r}`),
      "v0", "v1", "v2", "v3", "xv", "u01", "u23", "s", "sw", "ws4",
      ...(pair ? [...range(R).flatMap((r) => [`x${r}a`, `x${r}b`]), "wa", "wb"] : []),
    ])}
${indent(body, 4)})`;
}

// quantX quantises one row of x (in floats at src) into dst, padded with
// zeros to a multiple of 16 elements, and stores its scale at psx (and zero
// point at pzp for relaxed).
//   SIMD128: q = nearest(x * lim/amax) in i16, x ~= q * amax/lim, where lim
//            keeps blk*127*lim < 2^31 so a block's i32 sum cannot overflow.
//   relaxed: q = clamp(nearest(x / s) + zp, 0, 127) in u8 with the range
//            [min(x, 0), max(x, 0)] split in 127 steps s, x ~= (q - zp) * s.
//            relaxed_dot_i8x16_i7x16 needs the second operand in 0..127.
//   pair:    as relaxed in 63 steps, q in 0..63 (see mkI8's pair).
function quantX(relaxed, pair = false) {
  const top = pair ? 63 : 127;
  const f4 = (v) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;
  // The range scan uses f32x4.pmin/pmax (one instruction each; V8 spends
  // about seven on f32x4.min/max's NaN rules) and keeps NaN apart in a mask:
  // a row with a NaN gets a NaN scale, so its outputs are NaN.
  const load = (k, tail) =>
    tail
      ? `(f32x4.splat (f32.load ${add(L("src"), `(i32.shl ${k} (i32.const 2))`)}))`
      : `(v128.load align=4 ${add(L("src"), `(i32.shl ${k} (i32.const 2))`)})`;
  const track = (tail) => [
    set("v", relaxed ? load(L("k"), tail) : `(f32x4.abs ${load(L("k"), tail)})`),
    relaxed ? set("mn", `(f32x4.pmin ${L("mn")} ${L("v")})`) : [],
    set("mx", `(f32x4.pmax ${L("mx")} ${L("v")})`),
    set("nan", `(v128.or ${L("nan")} (f32x4.ne ${L("v")} ${L("v")}))`),
  ];
  const scanLoops = [
    relaxed ? set("mn", f4(0)) : [],
    set("mx", f4(0)),
    `(block $d (loop $l`,
    `  (br_if $d (i32.gt_s (i32.add ${L("k")} (i32.const 4)) ${L("in")}))`,
    ind(track(false)),
    `  ${set("k", add(L("k"), i32(4)))}`,
    `  (br $l)))`,
    `(block $d (loop $l`,
    `  (br_if $d (i32.ge_s ${L("k")} ${L("in")}))`,
    ind(track(true)),
    `  ${set("k", add(L("k"), i32(1)))}`,
    `  (br $l)))`,
    set("hi", `(f32.max (f32.max (f32x4.extract_lane 0 ${L("mx")}) (f32x4.extract_lane 1 ${L("mx")})) (f32.max (f32x4.extract_lane 2 ${L("mx")}) (f32x4.extract_lane 3 ${L("mx")})))`),
    `(if (v128.any_true ${L("nan")}) (then ${set("hi", "(f32.const nan)")}))`,
  ];
  const scan = relaxed
    ? [
        scanLoops,
        set("lo", `(f32.min (f32.min (f32x4.extract_lane 0 ${L("mn")}) (f32x4.extract_lane 1 ${L("mn")})) (f32.min (f32x4.extract_lane 2 ${L("mn")}) (f32x4.extract_lane 3 ${L("mn")})))`),
        set("s", `(f32.div (f32.sub ${L("hi")} ${L("lo")}) (f32.const ${top}))`),
        set("inv", `(select (f32.div (f32.const 1) ${L("s")}) (f32.const 0) (f32.gt ${L("s")} (f32.const 0)))`),
        set("zp", `(i32.trunc_sat_f32_s (f32.nearest (f32.neg (f32.mul ${L("lo")} ${L("inv")}))))`),
        `(f32.store ${L("psx")} ${L("s")})`,
        `(i32.store ${L("pzp")} ${L("zp")})`,
      ]
    : [
        scanLoops,
        set("s", `(f32.div ${L("hi")} (f32.convert_i32_s ${L("lim")}))`),
        set("inv", `(select (f32.div (f32.convert_i32_s ${L("lim")}) ${L("hi")}) (f32.const 0) (f32.gt ${L("hi")} (f32.const 0)))`),
        `(f32.store ${L("psx")} ${L("s")})`,
      ];
  // q4 quantises the 4 floats of vector v into i32 lanes. nearest(v * iv)
  // as an integer is the bits of v * iv + 1.5*2^23 minus those of 1.5*2^23
  // (|v * iv| <= 2^15 here): two instructions where V8 spends about eight
  // on f32x4.nearest and i32x4.trunc_sat_f32x4_s.
  const rnd = (e) => `(i32x4.sub (f32x4.add ${e} (v128.const f32x4 0x1.8p23 0x1.8p23 0x1.8p23 0x1.8p23)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))`;
  const q4 = (v) =>
    relaxed
      ? `(i32x4.min_s (i32x4.max_s (i32x4.add ${rnd(`(f32x4.mul ${v} ${L("iv")})`)} ${L("zv")}) (v128.const i64x2 0 0)) (v128.const i32x4 ${top} ${top} ${top} ${top}))`
      : rnd(`(f32x4.mul ${v} ${L("iv")})`);
  const src = (off) => add(L("src"), `(i32.shl (i32.add ${L("k")} (i32.const ${off})) (i32.const 2))`);
  const ld = (off) => `(v128.load align=4 ${src(off)})`;
  const vec = relaxed
    ? [
        `;; 16 floats -> 16 bytes`,
        `(block $d (loop $l`,
        `  (br_if $d (i32.gt_s (i32.add ${L("k")} (i32.const 16)) ${L("in")}))`,
        `  (v128.store align=1 ${add(L("dst"), L("k"))} (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s ${q4(ld(0))} ${q4(ld(4))}) (i16x8.narrow_i32x4_s ${q4(ld(8))} ${q4(ld(12))})))`,
        `  ${set("k", add(L("k"), i32(16)))}`,
        `  (br $l)))`,
      ]
    : [
        `;; 8 floats -> 8 i16`,
        `(block $d (loop $l`,
        `  (br_if $d (i32.gt_s (i32.add ${L("k")} (i32.const 8)) ${L("in")}))`,
        `  (v128.store align=2 ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 1))`)} (i16x8.narrow_i32x4_s ${q4(ld(0))} ${q4(ld(4))}))`,
        `  ${set("k", add(L("k"), i32(8)))}`,
        `  (br $l)))`,
      ];
  const tail = [
    `;; the ragged end one float at a time, then zeros up to a multiple of 16`,
    `(block $d (loop $l`,
    `  (br_if $d (i32.ge_s ${L("k")} ${L("in")}))`,
    `  ${set("q", `(i32x4.extract_lane 0 ${q4(`(f32x4.splat (f32.load ${src(0)}))`)})`)}`,
    relaxed
      ? `  (i32.store8 ${add(L("dst"), L("k"))} ${L("q")})`
      : `  (i32.store16 ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 1))`)} ${L("q")})`,
    `  ${set("k", add(L("k"), i32(1)))}`,
    `  (br $l)))`,
    `(block $d (loop $l`,
    `  (br_if $d (i32.ge_s ${L("k")} ${L("kp")}))`,
    relaxed
      ? `  (i32.store8 ${add(L("dst"), L("k"))} (i32.const 0))`
      : `  (i32.store16 ${add(L("dst"), `(i32.shl ${L("k")} (i32.const 1))`)} (i32.const 0))`,
    `  ${set("k", add(L("k"), i32(1)))}`,
    `  (br $l)))`,
  ];
  return `
  ;; quant_x${pair ? "6" : ""}: one row of x (in floats at src) into dst${pair ? " (0..63)" : ""}, zero-padded to kp;
  ;; its scale to psx${relaxed ? ", its zero point to pzp" : ""}.
  (func $quant_x${pair ? "6" : ""} (param $src i32) (param $in i32) (param $kp i32) (param $dst i32) (param $psx i32) (param $pzp i32) (param $lim i32)
    (local $k i32) (local $q i32) (local $zp i32) (local $lo f32) (local $hi f32) (local $s f32) (local $inv f32)
    (local $v v128) (local $mn v128) (local $mx v128) (local $nan v128) (local $iv v128) (local $zv v128)
${indent(scan, 4)}
    ${set("iv", `(f32x4.splat ${L("inv")})`)}
    ${set("zv", `(i32x4.splat ${L("zp")})`)}
    ${set("k", i32(0))}
${indent(vec, 4)}
${indent(tail, 4)})`;
}

// The int8 driver: quantise x, then per 4 rows of W gather the per-block
// scales (and weight sums), then the micro-kernels over the rows of x.
function driverI8(MR, relaxed, pair = false) {
  const C = relaxed ? 16 : 8;
  const P = pair ? "p" : "";
  const call = (R) =>
    `(call $mk_i8${P}_${R} ${add(L("xq"), mul(L("i"), L("xs")))} ${L("xs")} ${relaxed ? `${L("pw")} ${L("in")}` : `${L("wq")} (i32.shl ${L("kp")} (i32.const 1))`} ${L("in")} ${L("nb")} ${L("blk")} ${L("swv")} ${L("wsum")} ${add(
      L("sx"),
      `(i32.shl ${L("i")} (i32.const 2))`,
    )} ${add(L("zp"), `(i32.shl ${L("i")} (i32.const 2))`)} ${add(L("pd"), mul(L("i"), L("ds")))} ${L("ds")} ${L("pb")} ${L("nc")})`;
  // wsum: per block b, the sums of the 4 rows' int8 weights over the block
  // (true elements only), which the relaxed kernel multiplies by x's zero
  // point. Row pointers r0..r3 repeat the last valid row as rowPointers does.
  const wsum = relaxed
    ? [
        `;; wsum[b] = [sum of row c's int8 weights over block b for c < 4]`,
        set("r0", add(L("w"), mul(L("j"), L("in")))),
        range(3).map((c) => set(`r${c + 1}`, `(select ${add(L(`r${c}`), L("in"))} ${L(`r${c}`)} (i32.gt_u ${L("nc")} ${i32(c + 1)}))`)),
        set("k", i32(0)),
        set("b", i32(0)),
        `(loop $wb`,
        `  ${set("kend", `(call $min (i32.add ${L("k")} ${L("blk")}) ${L("in")})`)}`,
        `  (v128.store ${add(L("wsum"), `(i32.shl ${L("b")} (i32.const 4))`)} (call $sum4_i8 ${range(4).map((c) => add(L(`r${c}`), L("k"))).join(" ")} (i32.sub ${L("kend")} ${L("k")})))`,
        `  ${set("k", L("kend"))}`,
        `  ${set("b", add(L("b"), i32(1)))}`,
        `  (br_if $wb (i32.lt_s ${L("b")} ${L("nb")})))`,
      ]
    : [];
  return `
  (func (export "linear_i8${pair ? "_pair" : ""}") (param $w i32) (param $scales i32) (param $nb i32) (param $blk i32)
      (param $x i32) (param $dst i32) (param $bias i32)
      (param $n i32) (param $in i32) (param $out i32) (param $lo i32) (param $hi i32) (param $scratch i32) (result i32)
    ${locals("i32", ["i", "j", "c", "b", "k", "kend", "nc", "pw", "pb", "pd", "ds", "kp", "xs", "xq", "sx", "zp", "swv", "wsum", "lim", "wq", "r0", "r1", "r2", "r3"])}
    (if (i32.or (i32.ge_s ${L("lo")} ${L("hi")}) (i32.or (i32.le_s ${L("n")} (i32.const 0)) (i32.le_s ${L("in")} (i32.const 0))))
      (then (return (i32.const 0))))
    ;; blocks shorter than the row must hold whole k steps
    (if (i32.and (i32.gt_s ${L("nb")} (i32.const 1)) (i32.ne (i32.and ${L("blk")} ${i32(C - 1)}) (i32.const 0)))
      (then (return (i32.const 0))))
    ;; the last block's rounded-up steps read up to ${C - 1} bytes past W: stay inside memory
    (if (i64.gt_u (i64.add (i64.extend_i32_u ${L("w")}) (i64.add (i64.mul (i64.extend_i32_u ${L("out")}) (i64.extend_i32_u ${L("in")})) (i64.const 16)))
                  (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
      (then (return (i32.const 0))))
    ${set("ds", `(i32.shl ${L("out")} (i32.const 2))`)}
    ${set("kp", `(i32.and (i32.add ${L("in")} (i32.const 15)) (i32.const -16))`)}
    ;; scratch: xq (n rows of kp ${relaxed ? "bytes" : "i16"}), sx (n f32), zp (n i32), swv and wsum (nb x 16 bytes)${relaxed ? "" : ",\n    ;; wq (4 rows of W widened to kp i16)"}
    ${set("xq", `(i32.and (i32.add ${L("scratch")} (i32.const 15)) (i32.const -16))`)}
    ${set("xs", relaxed ? L("kp") : `(i32.shl ${L("kp")} (i32.const 1))`)}
    ${set("sx", add(L("xq"), mul(L("n"), L("xs"))))}
    ${set("zp", add(L("sx"), `(i32.shl ${L("n")} (i32.const 2))`))}
    ${set("swv", `(i32.and (i32.add ${add(L("zp"), `(i32.shl ${L("n")} (i32.const 2))`)} (i32.const 15)) (i32.const -16))`)}
    ${set("wsum", add(L("swv"), `(i32.shl ${L("nb")} (i32.const 4))`))}
    ${set("wq", `(i32.and (i32.add ${add(L("wsum"), `(i32.shl ${L("nb")} (i32.const 4))`)} (i32.const 15)) (i32.const -16))`)}
    ;; i16 quantisation limit: blk * 127 * lim < 2^31 (one block's integer sum)
    ${set("lim", `(call $min (i32.const 32767) (i32.div_u (i32.const 2147483647) (i32.mul (i32.const 127) (call $min ${L("blk")} ${L("in")}))))`)}
    ${set("i", i32(0))}
    (loop $q
      (call $quant_x${pair ? "6" : ""} ${add(L("x"), mul(L("i"), `(i32.shl ${L("in")} (i32.const 2))`))} ${L("in")} ${L("kp")} ${add(L("xq"), mul(L("i"), L("xs")))} ${add(
        L("sx"),
        `(i32.shl ${L("i")} (i32.const 2))`,
      )} ${add(L("zp"), `(i32.shl ${L("i")} (i32.const 2))`)} ${L("lim")})
      ${set("i", add(L("i"), i32(1)))}
      (br_if $q (i32.lt_s ${L("i")} ${L("n")})))
    ${set("j", L("lo"))}
    (loop $j
${indent(
  [
    set("nc", `(call $min ${i32(4)} (i32.sub ${L("hi")} ${L("j")}))`),
    set("c", i32(0)),
    `(loop $c`,
    [
      `;; row c of the block is W row j + min(c, nc-1)`,
      set("pw", add(L("w"), mul(add(L("j"), `(call $min ${L("c")} (i32.sub ${L("nc")} (i32.const 1)))`), L("in")))),
      set("b", i32(0)),
      `(loop $b`,
      `  (f32.store ${add(L("swv"), `(i32.add (i32.shl ${L("b")} (i32.const 4)) (i32.shl ${L("c")} (i32.const 2)))`)} (f32.load ${add(
        L("scales"),
        `(i32.shl ${add(mul(add(L("j"), `(call $min ${L("c")} (i32.sub ${L("nc")} (i32.const 1)))`), L("nb")), L("b"))} (i32.const 2))`,
      )}))`,
      `  ${set("b", add(L("b"), i32(1)))}`,
      `  (br_if $b (i32.lt_s ${L("b")} ${L("nb")})))`,
      set("c", add(L("c"), i32(1))),
      `(br_if $c (i32.lt_s ${L("c")} (i32.const 4)))`,
    ].flat().map((l) => "  " + l),
    `)`,
    wsum,
    relaxed
      ? []
      : [
          `;; widen the nc rows of W to i16 (zero-padded to kp) once for all rows of x`,
          set("c", i32(0)),
          `(loop $wc`,
          `  (call $widen_i8 ${add(L("w"), mul(add(L("j"), L("c")), L("in")))} ${add(L("wq"), mul(L("c"), `(i32.shl ${L("kp")} (i32.const 1))`))} ${L("in")} ${L("kp")})`,
          `  ${set("c", add(L("c"), i32(1)))}`,
          `  (br_if $wc (i32.lt_s ${L("c")} ${L("nc")})))`,
        ],
    set("pw", add(L("w"), mul(L("j"), L("in")))),
    set("pb", `(select ${add(L("bias"), `(i32.shl ${L("j")} (i32.const 2))`)} (i32.const 0) ${L("bias")})`),
    set("pd", add(L("dst"), `(i32.shl ${L("j")} (i32.const 2))`)),
    set("i", i32(0)),
    `(block $done`,
    `  (loop $rows`,
    `    (br_if $done (i32.gt_s (i32.add ${L("i")} ${i32(MR)}) ${L("n")}))`,
    `    ${call(MR)}`,
    `    ${set("i", add(L("i"), i32(MR)))}`,
    `    (br $rows)))`,
    `(block $done1`,
    `  (loop $rows1`,
    `    (br_if $done1 (i32.ge_s ${L("i")} ${L("n")}))`,
    `    ${call(1)}`,
    `    ${set("i", add(L("i"), i32(1)))}`,
    `    (br $rows1)))`,
    set("j", add(L("j"), i32(4))),
    `(br_if $j (i32.lt_s ${L("j")} ${L("hi")}))`,
  ],
  6,
)})
    (i32.const 1))`;
}

// The element-wise kernels of quant/elementwise.go, four lanes at a time
// with the ragged end one element at a time (in lane 0 of a splat):
//   exp(p, n)                               p[k] = e^p[k]
//   quick_gelu(p, n)                        p[k] = p[k] / (1 + e^(-1.702 p[k]))
//   softmax(p, n)                           one row in place
//   layer_norm(dst, x, n, d, w, b, eps)     n rows of d, dst may be x
//   add(dst, src, n)                        dst[k] += src[k]
// e^x is quant's expSlice: x = t ln2 + r with t = nearest(x log2e) (the
// 1.5*2^23 rounding trick, whose bits also give t as an integer) and ln2
// split in a 9-bit head and a tail (t*ln2Hi exact); e^r = 1 + r + r^2 P(r)
// with Cephes expf's degree-5 P on |r| <= ln2/2; times 2^t built as
// 2^(t>>1) * 2^(t - t>>1) in the exponent bits, so that subnormal results
// round and results past 88.72 overflow as a product does. x is clamped to
// [-104, 89] first (pmin/pmax: NaN passes through). Maximum relative error
// 8e-8 (quant's TestExp measures it on 2 million points per variant).
function elementwise(relaxed) {
  const f4 = (v) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;
  const i4 = (v) => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;
  const fma = (a, b, c) => (relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`);
  const nfma = (a, b, c) => (relaxed ? `(f32x4.relaxed_nmadd ${a} ${b} ${c})` : `(f32x4.sub ${c} (f32x4.mul ${a} ${b}))`);
  const P = ["1.9875691500e-4", "1.3981999507e-3", "8.3334519073e-3", "4.1665795894e-2", "1.6666665459e-1", "5.0000001201e-1"];
  // exp sets local ey to e^ex (lane-wise); et, en, er, ep are scratch.
  const exp = [
    set("ex", `(f32x4.pmax (f32x4.pmin ${L("ex")} ${f4(89)}) ${f4(-104)})`),
    set("et", fma(L("ex"), f4("1.44269504088896341"), f4("0x1.8p23"))),
    set("en", `(i32x4.sub ${L("et")} ${i4("0x4b400000")})`),
    set("et", `(f32x4.sub ${L("et")} ${f4("0x1.8p23")})`),
    set("er", nfma(L("et"), f4("0.693359375"), L("ex"))),
    set("er", nfma(L("et"), f4("-2.12194440e-4"), L("er"))),
    set("ep", fma(f4(P[0]), L("er"), f4(P[1]))),
    P.slice(2).map((c) => set("ep", fma(L("ep"), L("er"), f4(c)))),
    set("ep", `(f32x4.add ${fma(L("ep"), `(f32x4.mul ${L("er")} ${L("er")})`, L("er"))} ${f4(1)})`),
    set("et", `(i32x4.shr_s ${L("en")} (i32.const 1))`),
    set(
      "ey",
      `(f32x4.mul (f32x4.mul ${L("ep")} (i32x4.shl (i32x4.add ${L("et")} ${i4(127)}) (i32.const 23))) (i32x4.shl (i32x4.add (i32x4.sub ${L("en")} ${L("et")}) ${i4(127)}) (i32.const 23)))`,
    ),
  ];
  const expLocals = locals("v128", ["ex", "ey", "et", "en", "er", "ep"]);
  // each emits the loops over elements [0, n) of a row: body(ld, tail)
  // returns statements that leave the result in local y, given ld(base),
  // the elements at k of the row at local base (a vector, or in the tail a
  // splat of one element); store is where y goes.
  const at = (base) => add(L(base), `(i32.shl ${L("k")} (i32.const 2))`);
  const each = (n, store, body) => [
    set("k", i32(0)),
    `(block $d (loop $l`,
    `  (br_if $d (i32.gt_s (i32.add ${L("k")} (i32.const 4)) ${n}))`,
    ind(body((b) => `(v128.load align=4 ${at(b)})`, false), store ? `(v128.store align=4 ${at(store)} ${L("y")})` : []),
    `  ${set("k", add(L("k"), i32(4)))}`,
    `  (br $l)))`,
    `(block $d (loop $l`,
    `  (br_if $d (i32.ge_s ${L("k")} ${n}))`,
    ind(body((b) => `(f32x4.splat (f32.load ${at(b)}))`, true), store ? `(f32.store ${at(store)} (f32x4.extract_lane 0 ${L("y")}))` : []),
    `  ${set("k", add(L("k"), i32(1)))}`,
    `  (br $l)))`,
  ];
  // sum adds y to the vector acc, or in the tail its lane 0 to the scalar st.
  const sum = (tail) =>
    tail ? set("st", `(f32.add ${L("st")} (f32x4.extract_lane 0 ${L("y")}))`) : set("acc", `(f32x4.add ${L("acc")} ${L("y")})`);
  const hsum = (v) =>
    `(f32.add (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
  const zero = "(v128.const i64x2 0 0)";
  return `
  ;; exp: p[k] = e^p[k] for k < n.
  (func (export "exp") (param $p i32) (param $n i32) (result i32)
    (local $k i32) (local $y v128) ${expLocals}
${indent(each(L("n"), "p", (ld) => [set("ex", ld("p")), exp, set("y", L("ey"))]), 4)}
    (i32.const 1))

  ;; quick_gelu: p[k] = p[k] / (1 + e^(-1.702 p[k])) for k < n.
  (func (export "quick_gelu") (param $p i32) (param $n i32) (result i32)
    (local $k i32) (local $y v128) (local $v v128) ${expLocals}
${indent(
  each(L("n"), "p", (ld) => [
    set("v", ld("p")),
    set("ex", `(f32x4.mul ${f4(-1.702)} ${L("v")})`),
    exp,
    set("y", `(f32x4.div ${L("v")} (f32x4.add ${f4(1)} ${L("ey")}))`),
  ]),
  4,
)}
    (i32.const 1))

  ;; softmax: the row p[0:n] in place, e^(x - max) / sum (f32 sums).
  (func (export "softmax") (param $p i32) (param $n i32) (result i32)
    (local $k i32) (local $y v128) (local $acc v128) (local $mv v128) (local $st f32) (local $m f32) ${expLocals}
    (if (i32.le_s ${L("n")} (i32.const 0)) (then (return (i32.const 0))))
    ${set("acc", f4("-inf"))}
${indent(each(L("n"), null, (ld) => [set("acc", `(f32x4.pmax ${L("acc")} ${ld("p")})`)]), 4)}
    ${set("m", `(f32.max (f32.max (f32x4.extract_lane 0 ${L("acc")}) (f32x4.extract_lane 1 ${L("acc")})) (f32.max (f32x4.extract_lane 2 ${L("acc")}) (f32x4.extract_lane 3 ${L("acc")})))`)}
    ${set("mv", `(f32x4.splat ${L("m")})`)}
    ${set("acc", zero)}
${indent(each(L("n"), "p", (ld, tail) => [set("ex", `(f32x4.sub ${ld("p")} ${L("mv")})`), exp, set("y", L("ey")), sum(tail)]), 4)}
    ${set("mv", `(f32x4.splat (f32.div (f32.const 1) (f32.add ${hsum(L("acc"))} ${L("st")})))`)}
${indent(each(L("n"), "p", (ld) => [set("y", `(f32x4.mul ${ld("p")} ${L("mv")})`)]), 4)}
    (i32.const 1))

  ;; layer_norm: n rows of d floats from x into dst, (x - x0 - m) * inv * w + b
  ;; with x0 the row's first value, m = mean(x - x0), inv = 1/sqrt(var + eps):
  ;; quant.LayerNorm's shifted float32 moments.
  (func (export "layer_norm") (param $dst i32) (param $x i32) (param $n i32) (param $d i32) (param $w i32) (param $b i32) (param $eps f32) (result i32)
    (local $i i32) (local $k i32) (local $px i32) (local $pd i32) (local $st f32) (local $x0 f32) (local $m f32)
    (local $y v128) (local $acc v128) (local $x0v v128) (local $mv v128) (local $iv v128)
    (if (i32.or (i32.le_s ${L("n")} (i32.const 0)) (i32.le_s ${L("d")} (i32.const 0))) (then (return (i32.const 0))))
    (loop $rows
${indent(
  [
    set("px", add(L("x"), mul(L("i"), `(i32.shl ${L("d")} (i32.const 2))`))),
    set("pd", add(L("dst"), mul(L("i"), `(i32.shl ${L("d")} (i32.const 2))`))),
    set("x0", `(f32.load ${L("px")})`),
    set("x0v", `(f32x4.splat ${L("x0")})`),
    set("acc", zero),
    set("st", "(f32.const 0)"),
    each(L("d"), null, (ld, tail) => [set("y", `(f32x4.sub ${ld("px")} ${L("x0v")})`), sum(tail)]),
    set("m", `(f32.div (f32.add ${hsum(L("acc"))} ${L("st")}) (f32.convert_i32_s ${L("d")}))`),
    set("mv", `(f32x4.splat ${L("m")})`),
    set("acc", zero),
    set("st", "(f32.const 0)"),
    each(L("d"), null, (ld, tail) => [
      set("y", `(f32x4.sub (f32x4.sub ${ld("px")} ${L("x0v")}) ${L("mv")})`),
      set("y", `(f32x4.mul ${L("y")} ${L("y")})`),
      sum(tail),
    ]),
    set(
      "iv",
      `(f32x4.splat (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div (f32.add ${hsum(L("acc"))} ${L("st")}) (f32.convert_i32_s ${L("d")})) ${L("eps")}))))`,
    ),
    each(L("d"), "pd", (ld) => [
      set("y", `(f32x4.add (f32x4.mul (f32x4.mul (f32x4.sub (f32x4.sub ${ld("px")} ${L("x0v")}) ${L("mv")}) ${L("iv")}) ${ld("w")}) ${ld("b")})`),
    ]),
    set("i", add(L("i"), i32(1))),
    `(br_if $rows (i32.lt_s ${L("i")} ${L("n")}))`,
  ],
  6,
)})
    (i32.const 1))

  ;; add: dst[k] += src[k] for k < n.
  (func (export "add") (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (local $k i32) (local $y v128)
${indent(each(L("n"), "dst", (ld) => [set("y", `(f32x4.add ${ld("dst")} ${ld("src")})`)]), 4)}
    (i32.const 1))`;
}

// sum4_i8 returns [sum of the n int8 values at p0, .. at p3]: pairs summed
// to i16 (i16x8.extadd_pairwise_i8x16_s) and added up in i16 for at most 64
// steps of 16 bytes (|sum| <= 64*256, no overflow), then widened to i32.
const sum4I8 = `
  (func $sum4_i8 (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32) (param $n i32) (result v128)
    (local $k i32) (local $cend i32) (local $t0 i32) (local $t1 i32) (local $t2 i32) (local $t3 i32)
    ${locals("v128", ["h0", "h1", "h2", "h3", "a0", "a1", "a2", "a3", "u01", "u23", "s"])}
    (block $d (loop $l
      (br_if $d (i32.gt_s (i32.add (local.get $k) (i32.const 16)) (local.get $n)))
      (local.set $cend (call $min (i32.add (local.get $k) (i32.const 1024)) (i32.and (local.get $n) (i32.const -16))))
${indent(range(4).map((c) => set(`h${c}`, "(v128.const i64x2 0 0)")), 6)}
      (loop $in
${indent(range(4).map((c) => set(`h${c}`, `(i16x8.add ${L(`h${c}`)} (i16x8.extadd_pairwise_i8x16_s (v128.load align=1 (i32.add ${L(`p${c}`)} ${L("k")}))))`)), 8)}
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br_if $in (i32.lt_s (local.get $k) (local.get $cend))))
${indent(range(4).map((c) => set(`a${c}`, `(i32x4.add ${L(`a${c}`)} (i32x4.extadd_pairwise_i16x8_s ${L(`h${c}`)}))`)), 6)}
      (br $l)))
${indent(reduce4("i32x4.add", ["a0", "a1", "a2", "a3"], "s"), 4)}
    (block $d (loop $l
      (br_if $d (i32.ge_s (local.get $k) (local.get $n)))
${indent(range(4).map((c) => set(`t${c}`, `(i32.add ${L(`t${c}`)} (i32.load8_s (i32.add ${L(`p${c}`)} ${L("k")})))`)), 6)}
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l)))
    (i32x4.add (local.get $s) (i32x4.replace_lane 3 (i32x4.replace_lane 2 (i32x4.replace_lane 1 (i32x4.splat (local.get $t0))
      (local.get $t1)) (local.get $t2)) (local.get $t3))))`;

// widen_i8 writes n int8 values at src as i16 at dst, then zeros up to kp
// (the SIMD128 int8 kernel's copy of 4 rows of W: widened once per block of
// columns rather than once per pair of rows of x).
const widenI8 = `
  (func $widen_i8 (param $src i32) (param $dst i32) (param $n i32) (param $kp i32)
    (local $k i32) (local $v v128)
    (block $d (loop $l
      (br_if $d (i32.gt_s (i32.add (local.get $k) (i32.const 16)) (local.get $n)))
      (local.set $v (v128.load align=1 (i32.add (local.get $src) (local.get $k))))
      (v128.store align=2 (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 1))) (i16x8.extend_low_i8x16_s (local.get $v)))
      (v128.store offset=16 align=2 (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 1))) (i16x8.extend_high_i8x16_s (local.get $v)))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br $l)))
    (block $d (loop $l
      (br_if $d (i32.ge_s (local.get $k) (local.get $n)))
      (i32.store16 (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 1)))
        (i32.load8_s (i32.add (local.get $src) (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l)))
    (block $d (loop $l
      (br_if $d (i32.ge_s (local.get $k) (local.get $kp)))
      (i32.store16 (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 1))) (i32.const 0))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l))))`;

const helpers = `
  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))

  ;; load_part reads nc (1..4) floats at p into the low lanes of a vector.
  (func $load_part (param $p i32) (param $nc i32) (result v128)
    (local $v v128)
    (if (i32.eq (local.get $nc) (i32.const 4)) (then (return (v128.load align=4 (local.get $p)))))
    (local.set $v (f32x4.replace_lane 0 (v128.const i64x2 0 0) (f32.load (local.get $p))))
    (if (i32.gt_u (local.get $nc) (i32.const 1)) (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $p))))))
    (if (i32.gt_u (local.get $nc) (i32.const 2)) (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $p))))))
    (local.get $v))

  ;; store_part writes the low nc (1..4) lanes of v to p.
  (func $store_part (param $p i32) (param $v v128) (param $nc i32)
    (if (i32.eq (local.get $nc) (i32.const 4)) (then (v128.store align=4 (local.get $p) (local.get $v)) (return)))
    (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v)))
    (if (i32.gt_u (local.get $nc) (i32.const 1)) (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $v)))))
    (if (i32.gt_u (local.get $nc) (i32.const 2)) (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $v))))))

  ;; dot_f32 returns sum x[k]*w[k] for k in [k0, in), scalar.
  (func $dot_f32 (param $x i32) (param $w i32) (param $k0 i32) (param $in i32) (result f32)
    (local $s f32)
    (block $d (loop $l
      (br_if $d (i32.ge_s (local.get $k0) (local.get $in)))
      (local.set $s (f32.add (local.get $s) (f32.mul
        (f32.load (i32.add (local.get $x) (i32.shl (local.get $k0) (i32.const 2))))
        (f32.load (i32.add (local.get $w) (i32.shl (local.get $k0) (i32.const 2)))))))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 1)))
      (br $l)))
    (local.get $s))

  ;; tail_f32 adds the scalar tails [k0, in) of the dots of x with w0..w3 to the lanes of v.
  (func $tail_f32 (param $v v128) (param $x i32) (param $w0 i32) (param $w1 i32) (param $w2 i32) (param $w3 i32)
      (param $k0 i32) (param $in i32) (result v128)
    (f32x4.add (local.get $v)
      (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat
        (call $dot_f32 (local.get $x) (local.get $w0) (local.get $k0) (local.get $in)))
        (call $dot_f32 (local.get $x) (local.get $w1) (local.get $k0) (local.get $in)))
        (call $dot_f32 (local.get $x) (local.get $w2) (local.get $k0) (local.get $in)))
        (call $dot_f32 (local.get $x) (local.get $w3) (local.get $k0) (local.get $in)))))`;


// dotsI8 is quant.DotsInt8: dst[r] (i32) = sum over k of w[r*cols + k] (i8)
// * q[k] (i16) for r < rows, exact (i32x4.dot_i16x8_s on the rows widened to
// i16), two rows at a time so each load of q serves both.
function dotsI8() {
  const acc = (a, v, half, off) =>
    `(local.set $${a} (i32x4.add (local.get $${a}) (i32x4.dot_i16x8_s (i16x8.extend_${half}_i8x16_s (local.get $${v})) (v128.load offset=${off} align=2 (local.get $qp)))))`;
  const hsum = (a) =>
    `(i32.add (i32.add (i32x4.extract_lane 0 (local.get $${a})) (i32x4.extract_lane 1 (local.get $${a}))) (i32.add (i32x4.extract_lane 2 (local.get $${a})) (i32x4.extract_lane 3 (local.get $${a}))))`;
  const tail = (s, row) => `(local.set $${s} (i32.add (local.get $${s}) (i32.mul
            (i32.load8_s (i32.add (local.get $${row}) (local.get $k)))
            (i32.load16_s (i32.add (local.get $q) (i32.shl (local.get $k) (i32.const 1)))))))`;
  return `
  (func (export "dots_i8") (param $w i32) (param $cols i32) (param $q i32) (param $dst i32) (param $rows i32) (result i32)
    (local $r i32) (local $k i32) (local $km i32) (local $p0 i32) (local $p1 i32) (local $qp i32)
    (local $v0 v128) (local $v1 v128) (local $a0 v128) (local $a1 v128) (local $s0 i32) (local $s1 i32)
    (local.set $km (i32.and (local.get $cols) (i32.const -16)))
    (block $dr (loop $lr
      (br_if $dr (i32.ge_s (local.get $r) (local.get $rows)))
      (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $cols))))
      ;; the last row of an odd count pairs with itself
      (local.set $p1 (select (i32.add (local.get $p0) (local.get $cols)) (local.get $p0)
        (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $rows))))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $k (i32.const 0))
      (local.set $qp (local.get $q))
      (block $d (loop $l
        (br_if $d (i32.ge_s (local.get $k) (local.get $km)))
        (local.set $v0 (v128.load align=1 (i32.add (local.get $p0) (local.get $k))))
        (local.set $v1 (v128.load align=1 (i32.add (local.get $p1) (local.get $k))))
        ${acc("a0", "v0", "low", 0)}
        ${acc("a1", "v1", "low", 0)}
        ${acc("a0", "v0", "high", 16)}
        ${acc("a1", "v1", "high", 16)}
        (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l)))
      (local.set $s0 ${hsum("a0")})
      (local.set $s1 ${hsum("a1")})
      (block $d (loop $l
        (br_if $d (i32.ge_s (local.get $k) (local.get $cols)))
        ${tail("s0", "p0")}
        ${tail("s1", "p1")}
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
      (i32.store (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))) (local.get $s0))
      (if (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $rows))
        (then (i32.store offset=4 (i32.add (local.get $dst) (i32.shl (local.get $r) (i32.const 2))) (local.get $s1))))
      (local.set $r (i32.add (local.get $r) (i32.const 2)))
      (br $lr)))
    (i32.const 1))`;
}

// generate returns the module's text. relaxed selects the relaxed-SIMD
// instructions (f32x4.relaxed_madd, i32x4.relaxed_dot_i8x16_i7x16_add_s).
export function generate({ relaxed, mrF32 = defaults.mrF32, mrI8 = defaults.mrI8, unroll = defaults.unroll } = {}) {
  const name = relaxed ? "relaxed SIMD" : "SIMD128";
  return `;; Generated by gen.mjs (node build.mjs); do not edit.
;; clip4clip's matmul and element-wise kernels for WebAssembly ${name}: see gen.mjs for the method.
;; Exports (all pointers are byte addresses in the imported memory go.mem;
;; each returns 1 when it computed dst, 0 when it declined and the caller
;; must use its own kernel):
;;   linear_f32(w, x, dst, bias, n, in, out, lo, hi)
;;   linear_f16(w, x, dst, bias, n, in, out, lo, hi, scratch)   scratch: 4*in f32
;;   linear_i8(w, scales, nb, block, x, dst, bias, n, in, out, lo, hi, scratch)
;;       scratch: 2*n*ceil16(in) + 8*n + 32*nb + 8*ceil16(in) + 48 bytes${relaxed ? "\n;;   linear_i8_pair(...)   linear_i8 with x in 6 bits, summed in pairs in i16: see mkI8" : ""}
;; dst(n, out)[:, lo:hi] = x(n, in) @ W(out, in)[lo:hi]^T + bias; bias 0 = none.
;;   matmul_t(a, lda, b, ldb, dst, ldd, m, n, k)   dst(m, n) = a(m, k) b(n, k)^T, strides in floats
;;   dots_i8(w, cols, q, dst, rows)   dst(rows) i32 = W(rows, cols) i8 @ q(cols) i16, exact
;; Element-wise (in f32, e^x as quant's expSlice):
;;   exp(p, n), quick_gelu(p, n), softmax(p, n), add(dst, src, n),
;;   layer_norm(dst, x, n, d, w, b, eps)
;; Register blocks: f32 ${mrF32}x4, int8 ${mrI8}x4, k unrolled ${unroll}x.
(module
  (import "go" "mem" (memory 0))
${helpers}
${mkF32(mrF32, unroll, relaxed)}
${mrF32 === 1 ? "" : mkF32(1, unroll, relaxed)}
${driverF32(mrF32, "f32")}
${driverF32(mrF32, "matmul")}
${widenF16()}
${driverF32(mrF32, "f16")}
${quantX(relaxed)}
${mkI8(mrI8, unroll, relaxed)}
${mrI8 === 1 ? "" : mkI8(1, unroll, relaxed)}
${relaxed ? sum4I8 : widenI8}
${driverI8(mrI8, relaxed)}${relaxed ? [quantX(true, true), mkI8(mrI8, 1, true, true), mrI8 === 1 ? "" : mkI8(1, 1, true, true), driverI8(mrI8, true, true)].join("\n") : ""}
${dotsI8()}
${elementwise(relaxed)}
)
`;
}
