package unixsock

import (
	"strings"
	"testing"
)

// TestPutPermanentErrors: DDB PUT of an item DynamoDB can never store
// answers an error that says so, not "DynamoDB request failed".
func TestPutPermanentErrors(t *testing.T) {
	f := newFixture(t, nil) // max_value_bytes 1 MiB, above DynamoDB's 400 KB
	daemon := dialRaw(t, "unix", f.sock)
	cases := []struct{ name, doc, want string }{
		{"invalid UTF-8", `{"user_id":"9","name":"caf` + "\xe9" + `"}`, "-ERR bad item: invalid UTF-8 at byte 26 (JSON must be UTF-8)\r\n"},
		{"over DynamoDB's 400 KB", `{"user_id":"9","x":"` + strings.Repeat("x", 410<<10) + `"}`, "-ERR value too large: dynamo: PutItem users: Item size has exceeded the maximum allowed size (DynamoDB's limit is 400 KB)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := daemon.do("DDB", "PUT", "profile", tc.doc); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q…", got, tc.want)
			}
		})
	}
}
