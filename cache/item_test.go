package cache_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestPutRefusesBadItems: an item that DynamoDB could never store is a
// permanent error of its own (ErrBadItem, ErrTooLarge), never ErrLoad,
// which the fronts answer as "retry" (HTTP 503); and invalid UTF-8 is
// refused before DynamoDB is touched, rather than silently replaced with
// U+FFFD by the JSON decoder.
func TestPutRefusesBadItems(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil) // MaxValueBytes 1 MiB, above DynamoDB's 400 KB
	ctx := testenv.Context(t)
	cases := []struct {
		name    string
		doc     string
		want    error
		message string
		puts    int // PutItem calls the case may make
	}{
		{"invalid UTF-8 in a value", `{"user_id":"u1","name":"caf` + "\xe9" + `"}`, cache.ErrBadItem, "bad item: invalid UTF-8 at byte 27", 0},
		{"invalid UTF-8 in a name", `{"user_id":"u2","` + "\xff" + `":1}`, cache.ErrBadItem, "bad item: invalid UTF-8 at byte 17", 0},
		{"invalid UTF-8 in the key", `{"user_id":"` + "\xc3\x28" + `"}`, cache.ErrBadItem, "bad item: invalid UTF-8", 0},
		{"over DynamoDB's 400 KB", `{"user_id":"u3","x":"` + strings.Repeat("x", 410<<10) + `"}`, cache.ErrTooLarge, "value too large: ", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.Proxy.Count("PutItem")
			err := e.Put(ctx, "profile", []byte(tc.doc))
			if !errors.Is(err, tc.want) || errors.Is(err, cache.ErrLoad) {
				t.Fatalf("Put = %v, want %v and not ErrLoad", err, tc.want)
			}
			if msg := strings.TrimPrefix(err.Error(), "cache: "); !strings.HasPrefix(msg, tc.message) {
				t.Errorf("message %q, want it to start %q", msg, tc.message)
			}
			if n := f.Proxy.Count("PutItem") - before; n > tc.puts {
				t.Errorf("%d PutItem calls, want at most %d", n, tc.puts)
			}
		})
	}
	t.Run("valid UTF-8 is stored as sent", func(t *testing.T) {
		if err := e.Put(ctx, "profile", []byte(`{"user_id":"u4","name":"Zoë 東京 🙂"}`)); err != nil {
			t.Fatal(err)
		}
		res, err := e.Get(ctx, "profile", cache.Key{Partition: "u4"})
		if err != nil || string(res.Value) != `{"name":"Zoë 東京 🙂","user_id":"u4"}` {
			t.Errorf("Get = %s, %v", res.Value, err)
		}
	})
}
