package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUseKernel selects every set of kernels by name and checks each is the
// one in use afterwards and computes a product that agrees with LinearRef;
// an unknown name is refused with the names there are.
func TestUseKernel(t *testing.T) {
	names := Kernels()
	require.Equal(t, "go", names[0])
	require.Contains(t, names, Kernel())
	t.Logf("kernels on this machine: %v (in use: %s)", names, Kernel())
	start := Kernel()
	defer UseKernel(start)

	r := rand.New(rand.NewPCG(3, 4))
	m := NewF32(40, 96, randSlice(r, 40*96))
	x := randSlice(r, 5*96)
	want := make([]float32, 5*40)
	LinearRef(m, want, x, 5, nil)
	for _, name := range names {
		old, err := UseKernel(name)
		require.NoError(t, err)
		require.Contains(t, names, old)
		require.Equal(t, name, Kernel())
		got := make([]float32, 5*40)
		m.Linear(got, x, 5, nil)
		require.InDeltaSlice(t, want, got, 1e-3, name)
	}
	_, err := UseKernel("avx1024")
	require.ErrorContains(t, err, `no "avx1024" kernels`)
	require.ErrorContains(t, err, "go")
}
