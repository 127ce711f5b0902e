package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestSetNamespaces replaces the table of a running engine: a lookup
// under way finishes on the table it started with, later lookups of a
// removed namespace are unknown, a changed TTL applies to the next fill,
// an added namespace is served, counters are kept by name, and an invalid
// table changes nothing.
func TestSetNamespaces(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	f.Seed(t, "2", "Bob")
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	profile := enginetest.Namespaces[0]

	shorter := profile
	shorter.TTL, shorter.TTLJitter = 10*time.Minute, 0
	added := cache.Namespace{Name: "people", Table: "users", PartitionKey: "user_id"}
	if err := replaceDuringFill(t, e, "sturdy", []cache.Namespace{shorter, added}); err != nil {
		t.Errorf("the lookup under way did not finish on its table: %v", err)
	}

	cases := []struct {
		name, ns, id string
		wantErr      error
	}{
		{"a removed namespace is unknown", "sturdy", "1", cache.ErrUnknownNamespace},
		{"a changed namespace is served", "profile", "2", nil},
		{"an added namespace is served", "people", "1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Get(ctx, tc.ns, cache.Key{Partition: tc.id})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Get %s/%s: %v, want %v", tc.ns, tc.id, err, tc.wantErr)
			}
		})
	}
	if ttl := f.RDB.TTL(ctx, "user_profile:2").Val(); ttl > 10*time.Minute || ttl < 9*time.Minute {
		t.Errorf("fill after SetNamespaces has TTL %s, want 10m", ttl)
	}
	st := e.Stats()
	if _, ok := st.Namespaces["sturdy"]; ok {
		t.Error("Stats still reports the removed namespace")
	}
	if st.Namespaces["profile"].Misses != 1 || st.Namespaces["people"].Misses != 1 {
		t.Errorf("counters after SetNamespaces: %+v", st.Namespaces)
	}
	if got := e.Namespaces(); len(got) != 2 || got[0].Name != "people" || got[1].TTL != "10m0s" {
		t.Errorf("Namespaces() = %+v", got)
	}

	t.Run("an invalid table changes nothing", func(t *testing.T) {
		bad := [][]cache.Namespace{
			{shorter, shorter},
			{{Name: "x", Table: "users"}},
			{{Name: "x", Table: "users", PartitionKey: "user_id", TTLJitter: 2}},
		}
		for _, nss := range bad {
			if err := e.SetNamespaces(nss); err == nil || !strings.HasPrefix(err.Error(), "cache: ") {
				t.Errorf("SetNamespaces(%v) = %v, want a cache error", nss, err)
			}
			if cache.CheckNamespaces(nss) == nil {
				t.Errorf("CheckNamespaces(%v) accepted it", nss)
			}
		}
		if got := e.Namespaces(); len(got) != 2 {
			t.Errorf("a refused table changed the namespaces: %+v", got)
		}
	})
}

// replaceDuringFill holds a fill of ns/1 between its DynamoDB read and
// its store while SetNamespaces(next) replaces the table, then lets it go
// on and returns the lookup's error (or a wrong value).
func replaceDuringFill(t *testing.T, e *cache.Engine, ns string, next []cache.Namespace) error {
	t.Helper()
	paused, release := make(chan struct{}), make(chan struct{})
	e.SetAfterLoad(func(name string, _ cache.Key) {
		if name == ns {
			close(paused)
			<-release
		}
	})
	defer e.SetAfterLoad(nil)
	done := make(chan error, 1)
	go func() {
		res, err := e.Get(context.Background(), ns, cache.Key{Partition: "1"})
		if err == nil && string(res.Value) != enginetest.UserJSON("1", "Ann") {
			err = errors.New("wrong value " + string(res.Value))
		}
		done <- err
	}()
	<-paused
	if err := e.SetNamespaces(next); err != nil {
		t.Fatal(err)
	}
	close(release)
	return <-done
}

// TestSetLimits changes max_value_bytes of a running engine.
func TestSetLimits(t *testing.T) {
	f := enginetest.New(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	doc := []byte(`{"user_id":"9","name":"` + strings.Repeat("x", 100) + `"}`)
	if err := e.Put(ctx, "profile", doc); err != nil {
		t.Fatal(err)
	}
	if err := e.SetLimits(cache.Limits{MaxValueBytes: 64}); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, "profile", doc); !errors.Is(err, cache.ErrTooLarge) {
		t.Errorf("Put of %d bytes after MaxValueBytes 64: %v", len(doc), err)
	}
	if e.MaxValueBytes() != 64 {
		t.Errorf("MaxValueBytes() = %d", e.MaxValueBytes())
	}
	if err := e.SetLimits(cache.Limits{MaxValueBytes: -1}); err == nil || e.MaxValueBytes() != 64 {
		t.Errorf("a negative MaxValueBytes: %v, now %d", err, e.MaxValueBytes())
	}
}
