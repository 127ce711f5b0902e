package bench

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
)

// TestChooserDistributions draws from each distribution and checks the
// share of the hottest key and of the hottest 10 % against theory.
func TestChooserDistributions(t *testing.T) {
	const keys, draws = 1000, 200_000
	for _, tc := range []struct {
		name        string
		dist        Distribution
		s           float64
		top1, top10 float64 // expected shares of key 0 and of keys 0..99
	}{
		{"uniform", Uniform, 0, 1.0 / keys, 0.1},
		{"zipf 0.99", Zipf, 0.99, zipfShare(keys, 0.99, 1), zipfShare(keys, 0.99, 100)},
		{"zipf 1.2", Zipf, 1.2, zipfShare(keys, 1.2, 1), zipfShare(keys, 1.2, 100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChooser(tc.dist, keys, tc.s, 42)
			if err != nil {
				t.Fatal(err)
			}
			counts := make([]int, keys)
			for range draws {
				i := c.Next()
				if i < 0 || i >= keys {
					t.Fatalf("key %d out of [0,%d)", i, keys)
				}
				counts[i]++
			}
			top10 := 0
			for _, n := range counts[:100] {
				top10 += n
			}
			if got := float64(counts[0]) / draws; math.Abs(got-tc.top1) > 0.2*tc.top1+0.002 {
				t.Errorf("hottest key share %.4f, want about %.4f", got, tc.top1)
			}
			if got := float64(top10) / draws; math.Abs(got-tc.top10) > 0.02 {
				t.Errorf("top 10%% share %.4f, want about %.4f", got, tc.top10)
			}
		})
	}
}

// zipfShare is the probability mass of the first k ranks of Zipf(s) over n.
func zipfShare(n int, s float64, k int) float64 {
	var top, all float64
	for r := 1; r <= n; r++ {
		w := math.Pow(float64(r), -s)
		all += w
		if r <= k {
			top += w
		}
	}
	return top / all
}

// TestChooserSkew checks that Zipf is skewed where uniform is not: the
// hottest key of Zipf(0.99) over 1000 keys draws over 10 % of lookups.
func TestChooserSkew(t *testing.T) {
	z, _ := NewChooser(Zipf, 1000, 0.99, 1)
	u, _ := NewChooser(Uniform, 1000, 0, 1)
	var zc, uc int
	for range 50_000 {
		if z.Next() == 0 {
			zc++
		}
		if u.Next() == 0 {
			uc++
		}
	}
	if zc < 5000 || uc > 200 {
		t.Errorf("key 0 drawn %d times by zipf, %d by uniform of 50000: want >5000 and <200", zc, uc)
	}
}

func TestChooserErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dist Distribution
		keys int
		s    float64
	}{
		{"no keys", Uniform, 0, 0},
		{"bad dist", "pareto", 10, 1},
		{"zero s", Zipf, 10, 0},
		{"negative s", Zipf, 10, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewChooser(tc.dist, tc.keys, tc.s, 1); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestChooserReproducible(t *testing.T) {
	a, _ := NewChooser(Zipf, 100, 0.99, 7)
	b, _ := NewChooser(Zipf, 100, 0.99, 7)
	for i := range 1000 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("draw %d: %d vs %d with the same seed", i, x, y)
		}
	}
}

// TestColdChooser: choosers sharing one sequence never hand out a key
// twice nor key 0 (the readiness probes'), until the keys run out.
func TestColdChooser(t *testing.T) {
	const keys = 1000
	var next atomic.Int64
	seen := map[int]bool{}
	for w := range 4 {
		c, err := ColdChooser(keys, uint64(w), &next)
		if err != nil {
			t.Fatal(err)
		}
		for range (keys - 1) / 4 {
			i := c.Next()
			if i <= 0 || i >= keys || seen[i] {
				t.Fatalf("worker %d: key %d: want a fresh key in [1,%d)", w, i, keys)
			}
			seen[i] = true
		}
	}
}

// TestChooserNextN: the keys of one MGET are distinct and in range, also
// when the batch takes every key, and the hottest key still comes first
// most often under Zipf.
func TestChooserNextN(t *testing.T) {
	for _, tc := range []struct {
		name string
		dist Distribution
		keys int
		n    int
	}{
		{"zipf, 50 of 1000", Zipf, 1000, 50},
		{"zipf, all keys", Zipf, 60, 60},
		{"uniform, 50 of 100", Uniform, 100, 50},
		{"one key", Zipf, 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChooser(tc.dist, tc.keys, 0.99, 7)
			if err != nil {
				t.Fatal(err)
			}
			var buf []int
			for range 200 {
				buf = c.NextN(tc.n, buf)
				if len(buf) != tc.n {
					t.Fatalf("NextN(%d) gave %d keys", tc.n, len(buf))
				}
				seen := map[int]bool{}
				for _, k := range buf {
					if k < 0 || k >= tc.keys || seen[k] {
						t.Fatalf("NextN(%d) = %v: key %d out of range or repeated", tc.n, buf, k)
					}
					seen[k] = true
				}
			}
		})
	}
	var next atomic.Int64
	c, err := ColdChooser(1000, 1, &next)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NextN(3, nil); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("cold NextN(3) = %v, want [1 2 3]", got)
	}
}
