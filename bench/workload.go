package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
)

// Distribution names how lookups choose their keys.
type Distribution string

// The key distributions.
const (
	// Uniform picks every key with the same probability.
	Uniform Distribution = "uniform"
	// Zipf picks the key of rank r (0 the hottest) with probability
	// proportional to 1/(r+1)^s, as web traffic over user profiles does.
	Zipf Distribution = "zipf"
	// Cold gives every lookup of the run a key no lookup took before
	// (1, 2, 3…; key 0 is left to readiness probes), so that each is a
	// miss read from DynamoDB: the cost of a cold cache.
	Cold Distribution = "cold"
)

// KeyPrefix starts every key the bench seeds and looks up, so that its
// items are easy to tell from real ones.
const KeyPrefix = "bench-"

// KeyName is the partition key value of the key of index i.
func KeyName(i int) string { return KeyPrefix + strconv.Itoa(i) }

// Chooser picks key indexes in [0, keys) by a distribution. One Chooser
// belongs to one goroutine: it owns its random source.
type Chooser struct {
	rng  *rand.Rand
	keys int
	// cdf is the cumulative probability of ranks 0..i, for Zipf; nil for
	// Uniform. math/rand/v2's Zipf needs s > 1, and web workloads are
	// usually described with s just below 1 (0.99), so the bench inverts
	// the exact CDF instead: one float64 per key, a binary search a pick.
	cdf []float64
	// seq, for Cold, is the run's shared count of keys handed out.
	seq *atomic.Int64
}

// NewChooser returns a Chooser over keys keys; s is the Zipf exponent
// (ignored for Uniform) and seed makes the sequence reproducible.
func NewChooser(dist Distribution, keys int, s float64, seed uint64) (*Chooser, error) {
	if keys <= 0 {
		return nil, fmt.Errorf("bench: --keys must be positive, got %d", keys)
	}
	c := &Chooser{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), keys: keys}
	switch dist {
	case Uniform, Cold:
	case Zipf:
		if s <= 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("bench: --zipf-s must be positive, got %g", s)
		}
		c.cdf = zipfCDF(keys, s)
	default:
		return nil, fmt.Errorf("bench: --dist %q: want uniform, zipf or cold", dist)
	}
	return c, nil
}

// zipfCDF returns the normalised cumulative weights 1/(r+1)^s.
func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for r := range n {
		sum += math.Pow(float64(r+1), -s)
		cdf[r] = sum
	}
	for r := range cdf {
		cdf[r] /= sum
	}
	return cdf
}

// Next returns the next key index.
func (c *Chooser) Next() int {
	if c.seq != nil {
		return 1 + int(c.seq.Add(1)-1)%max(c.keys-1, 1)
	}
	if c.cdf == nil {
		return c.rng.IntN(c.keys)
	}
	u := c.rng.Float64()
	i := sort.SearchFloat64s(c.cdf, u)
	return min(i, c.keys-1)
}

// Write reports whether the next operation is a write, with probability ratio.
func (c *Chooser) Write(ratio float64) bool {
	return ratio > 0 && c.rng.Float64() < ratio
}

// ColdChooser returns a Cold chooser that hands out keys from next,
// which every chooser of the run shares.
func ColdChooser(keys int, seed uint64, next *atomic.Int64) (*Chooser, error) {
	c, err := NewChooser(Cold, keys, 0, seed)
	if err == nil {
		c.seq = next
	}
	return c, err
}

// NextN fills buf with n distinct key indexes (n ≤ the chooser's keys),
// the keys of one MGET: each drawn from the distribution, a key drawn
// twice drawn again. It returns buf[:n], reusing buf's storage.
func (c *Chooser) NextN(n int, buf []int) []int {
	buf = buf[:0]
	for len(buf) < n {
		k := c.Next()
		if !slices.Contains(buf, k) {
			buf = append(buf, k)
		}
	}
	return buf
}
