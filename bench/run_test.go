package bench

import "testing"

// TestSeedFor: every (round, target, worker) draws its own key sequence,
// and the same triple the same one, so a run is reproducible while no
// target replays the keys another has just loaded into the shared daemon.
func TestSeedFor(t *testing.T) {
	base := round{index: 2, target: 1}
	cases := []struct {
		name   string
		r      round
		worker int
		same   bool
	}{
		{"the same round, target and worker", base, 0, true},
		{"another target", round{index: 2, target: 2}, 0, false},
		{"another round", round{index: 3, target: 1}, 0, false},
		{"the warm-up", round{index: -1, target: 1}, 0, false},
		{"another worker", base, 1, false},
	}
	want := seedFor(1, base, 0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := seedFor(1, tc.r, tc.worker)
			if (got == want) != tc.same {
				t.Fatalf("seed %d against %d: want same=%v", got, want, tc.same)
			}
			a, _ := NewChooser(Zipf, 100_000, 0.99, want)
			b, _ := NewChooser(Zipf, 100_000, 0.99, got)
			differ := 0
			for range 1000 {
				if a.Next() != b.Next() {
					differ++
				}
			}
			if tc.same && differ != 0 || !tc.same && differ < 100 {
				t.Fatalf("%d of 1000 draws differ (same seed: %v)", differ, tc.same)
			}
		})
	}
}
