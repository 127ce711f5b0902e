package dynamo

import (
	"errors"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestPutItemErrors: items that can never be stored are *ItemError, which
// says whether the item is too large; DynamoDB failing is not.
func TestPutItemErrors(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testenv.Context(t)
	cases := []struct {
		name     string
		table    string
		doc      string
		tooLarge bool
		message  string
	}{
		{"invalid UTF-8", "users", `{"user_id":"1","n":"` + "\xe9" + `"}`, false, "invalid UTF-8 at byte 20"},
		{"over 400 KB", "users", `{"user_id":"1","x":"` + strings.Repeat("x", 410<<10) + `"}`, true, "Item size has exceeded the maximum allowed size (DynamoDB's limit is 400 KB)"},
		{"key of the wrong type", "events", `{"account":"seven","seq":1}`, false, "ValidationException"},
		{"missing key", "users", `{"name":"x"}`, false, "missing key attribute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Put(ctx, tc.table, []byte(tc.doc))
			var ie *ItemError
			if !errors.As(err, &ie) || ie.ItemTooLarge() != tc.tooLarge || ie.ItemInvalid() == tc.tooLarge {
				t.Fatalf("Put = %v (%T), want an ItemError with TooLarge %v", err, err, tc.tooLarge)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q lacks %q", err, tc.message)
			}
		})
	}
	t.Run("an unknown table is DynamoDB's answer, not the item's", func(t *testing.T) {
		err := c.Put(ctx, "nope", []byte(`{"user_id":"1"}`))
		var ie *ItemError
		if err == nil || errors.As(err, &ie) {
			t.Errorf("Put = %v", err)
		}
	})
}
