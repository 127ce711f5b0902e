package bench

import (
	"slices"
	"testing"
	"time"
)

// TestRoundMedians: the medians over rounds ignore one slow round, where
// the whole run's mean would not.
func TestRoundMedians(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rounds   []roundFigures
		rates    []float64
		rate, us float64
	}{
		{"none", nil, nil, 0, 0},
		{"one", []roundFigures{{ops: 1000, elapsed: time.Second, backendCPU: 100 * time.Millisecond}}, []float64{1000}, 1000, 100},
		{"odd, one slow round", []roundFigures{
			{ops: 1000, elapsed: time.Second, backendCPU: 100 * time.Millisecond},
			{ops: 100, elapsed: time.Second, backendCPU: 90 * time.Millisecond},
			{ops: 1200, elapsed: time.Second, backendCPU: 132 * time.Millisecond},
		}, []float64{1000, 100, 1200}, 1000, 110},
		{"even", []roundFigures{
			{ops: 1000, elapsed: time.Second, backendCPU: 100 * time.Millisecond},
			{ops: 3000, elapsed: time.Second, backendCPU: 600 * time.Millisecond},
		}, []float64{1000, 3000}, 2000, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := result{rounds: tc.rounds}
			rates, rate, us := res.roundMedians()
			if !slices.Equal(rates, tc.rates) || rate != tc.rate || us != tc.us {
				t.Errorf("roundMedians = %v, %g, %g; want %v, %g, %g", rates, rate, us, tc.rates, tc.rate, tc.us)
			}
		})
	}
}
