package quant

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestMain says which sets of kernels this run tests (every test that
// compares kernels runs each set Kernels lists) and which this machine
// cannot run, so that a log shows what was checked where.
func TestMain(m *testing.M) {
	all := []string{"go", "avx2", "avxvnni", "avx512"}
	if isWasm {
		all = []string{"go", "simd128", "relaxed", "relaxed-pair"}
	}
	var missing []string
	for _, k := range all {
		if !slices.Contains(Kernels(), k) {
			missing = append(missing, k)
		}
	}
	line := fmt.Sprintf("quant: testing the %s kernels%s", strings.Join(Kernels(), ", "), kernelNotes())
	if len(missing) > 0 {
		line += fmt.Sprintf("; this machine cannot run %s, so they are not tested here", strings.Join(missing, ", "))
	}
	fmt.Fprintln(os.Stderr, line)
	os.Exit(m.Run())
}
