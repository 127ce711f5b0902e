package bench

import (
	"errors"
	"testing"
)

// TestSeedRefusesRealAWS: seeding is refused against AWS itself unless
// --yes, and allowed against local servers.
func TestSeedRefusesRealAWS(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		yes      bool
		refused  bool
	}{
		{"", false, true},
		{"https://dynamodb.us-east-1.amazonaws.com", false, true},
		{"https://dynamodb.eu-west-1.amazonaws.com/", false, true},
		{"https://dynamodb.cn-north-1.amazonaws.com.cn", false, true},
		{"dynamodb.us-east-1.amazonaws.com", false, true},
		{"https://DYNAMODB.US-EAST-1.AMAZONAWS.COM", false, true},
		{"", true, false},
		{"https://dynamodb.us-east-1.amazonaws.com", true, false},
		{"http://127.0.0.1:8000", false, false},
		{"http://localhost:4567", false, false},
		{"http://amazonaws.com.example.org", false, false},
	} {
		t.Run(tc.endpoint, func(t *testing.T) {
			err := checkSeed(tc.endpoint, tc.yes)
			if refused := errors.Is(err, ErrRealAWS); refused != tc.refused {
				t.Fatalf("checkSeed(%q, yes=%v) = %v, want refused=%v", tc.endpoint, tc.yes, err, tc.refused)
			}
		})
	}
}
