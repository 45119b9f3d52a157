package quant

import "math"

// DotsLimit is the largest |q[k]| DotsInt8 takes for rows of cols int8
// values, so that no sum can leave int32: 127 * cols * DotsLimit(cols) <
// 2^31 (32767, a full int16, up to 516 columns).
func DotsLimit(cols int) int {
	if cols <= 0 {
		return math.MaxInt16
	}
	return min(math.MaxInt16, math.MaxInt32/(127*cols))
}

// DotsInt8 sets dst[r] to the dot product of row r of w (len(dst) rows of
// cols int8 values) with q, for every r: exact integer sums, so the result
// is the same bit for bit on every machine and with every set of kernels
// (Matrix.Linear's int8 kernels round x each its own way). |q[k]| must not
// exceed DotsLimit(cols). The rows are shared out over the package's
// threads (SetThreads).
func DotsInt8(dst []int32, w []int8, cols int, q []int16) {
	rows := len(dst)
	if cols <= 0 {
		clear(dst)
		return
	}
	w, q = w[:rows*cols], q[:cols]
	const chunk = 256 // rows per item
	Parallel((rows+chunk-1)/chunk, chunk*cols, func(i int) {
		lo, hi := i*chunk, min((i+1)*chunk, rows)
		if dotsKernel != nil && dotsKernel(dst[lo:hi], w[lo*cols:hi*cols], cols, q) {
			return
		}
		dotsGo(dst[lo:hi], w[lo*cols:hi*cols], cols, q)
	})
}

// dotsKernel is the platform's DotsInt8 over a range of rows, if any; false
// when it declines.
var dotsKernel func(dst []int32, w []int8, cols int, q []int16) bool

// dotsGo is DotsInt8 in Go, the reference the kernels are tested against.
func dotsGo(dst []int32, w []int8, cols int, q []int16) {
	for r := range dst {
		row := w[r*cols : (r+1)*cols]
		var s0, s1, s2, s3 int32
		k := 0
		for ; k+4 <= cols; k += 4 {
			s0 += int32(row[k]) * int32(q[k])
			s1 += int32(row[k+1]) * int32(q[k+1])
			s2 += int32(row[k+2]) * int32(q[k+2])
			s3 += int32(row[k+3]) * int32(q[k+3])
		}
		for ; k < cols; k++ {
			s0 += int32(row[k]) * int32(q[k])
		}
		dst[r] = s0 + s1 + s2 + s3
	}
}
