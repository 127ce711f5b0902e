package cache_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/ddbcache/ddbcache/audit"
	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// heardHits records what a HitObserver hears.
type heardHits struct {
	mu   sync.Mutex
	hits []string // "ns key source value"
}

func (h *heardHits) Hit(ns string, k cache.Key, r cache.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hits = append(h.hits, ns+" "+k.Partition+" "+r.Source.String()+" "+string(r.Value))
}

func (h *heardHits) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.hits
	h.hits = nil
	return out
}

// TestHitObserver: the observer hears each hit, of GET, of MGET and of
// the negative cache, with what was served, and no miss.
func TestHitObserver(t *testing.T) {
	f := enginetest.New(t)
	f.Seed(t, "1", "Ann")
	h := &heardHits{}
	e := f.Engine(t, func(o *cache.Options) { o.Hits = h; o.Redis.DisableClientCache = true })
	ctx := testenv.Context(t)
	ann := enginetest.UserJSON("1", "Ann")
	for _, tc := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"miss", func() error { _, err := e.Get(ctx, "profile", cache.Key{Partition: "1"}); return err }, nil},
		{"hit", func() error { _, err := e.Get(ctx, "profile", cache.Key{Partition: "1"}); return err },
			[]string{"profile 1 redis " + ann}},
		{"negative miss", func() error { _, err := e.Get(ctx, "profile", cache.Key{Partition: "404"}); return err }, nil},
		{"negative hit", func() error { _, err := e.Get(ctx, "profile", cache.Key{Partition: "404"}); return err },
			[]string{"profile 404 negative "}},
		{"mget", func() error {
			_, err := e.MGet(ctx, "profile", []cache.Key{{Partition: "1"}, {Partition: "2"}, {Partition: "404"}})
			return err
		}, []string{"profile 1 redis " + ann, "profile 404 negative "}},
	} {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := h.take(); len(got) != len(tc.want) || len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1]) {
			t.Errorf("%s: heard %q, want %q", tc.name, got, tc.want)
		}
	}
}

// BenchmarkGetHitAudit is the GET hit path from the client-side cache
// without a HitObserver (none), with the audit hearing hits but off
// (sample 0), and sampling one in a thousand (the default; its checks
// run beside the benchmark).
func BenchmarkGetHitAudit(b *testing.B) {
	for _, tc := range []struct {
		name   string
		audit  bool
		sample float64
	}{{"none", false, 0}, {"off", true, 0}, {"sample=0.001", true, audit.DefaultSample}} {
		b.Run(tc.name, func(b *testing.B) {
			f := enginetest.New(b)
			keys := make([]cache.Key, benchKeys)
			for i := range keys {
				id := strconv.Itoa(i)
				f.Seed(b, id, "N"+id)
				keys[i] = cache.Key{Partition: id}
			}
			var a *audit.Auditor
			if tc.audit {
				var err error
				if a, err = audit.New(audit.Options{Sample: tc.sample, Reader: f.Loader}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(a.Close)
			}
			e := f.Engine(b, func(o *cache.Options) {
				if a != nil {
					o.Hits = a
				}
			})
			if a != nil {
				a.Start(e)
			}
			ctx := testenv.Context(b)
			enginetest.WaitFor(b, "hits of every key from the client-side cache", func() bool {
				for _, k := range keys {
					if res, err := e.Get(ctx, "profile", k); err != nil || res.Source != cache.SourceLocal {
						return false
					}
				}
				return true
			})
			benchHits(b, e, 1, false, func(ctx context.Context, i int) error {
				_, err := e.Get(ctx, "profile", keys[i%len(keys)])
				return err
			})
		})
	}
}
