package fcgi_test

import (
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
)

// TestPutPermanentErrors: an item DynamoDB can never store is the
// client's error (400, 413), not 503, which tells clients to retry.
func TestPutPermanentErrors(t *testing.T) {
	a := setup(t, func(o *cache.Options) { o.MaxValueBytes = 1 << 20 })
	cases := []struct {
		name, body string
		status     int
		code       string
		message    string
	}{
		{"invalid UTF-8", `{"user_id":"9","name":"caf` + "\xe9" + `"}`, 400, `"code":"bad_item"`, "invalid UTF-8"},
		{"over DynamoDB's 400 KB", `{"user_id":"9","x":"` + strings.Repeat("x", 410<<10) + `"}`, 413, `"code":"too_large"`, "value too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := a.do(t, "PUT", "/v1/profile/9", tc.body)
			if res.status != tc.status || !strings.Contains(res.body, tc.code) || !strings.Contains(res.body, tc.message) {
				t.Errorf("status %d, body %s; want %d with %s and %q", res.status, res.body, tc.status, tc.code, tc.message)
			}
		})
	}
}
