package cache_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/internal/enginetest"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// spread returns one user id per master of f's cluster: ids whose value
// keys (user_profile:ID) live on three different masters.
func spread(t *testing.T, f *enginetest.Fixture) []string {
	t.Helper()
	seen := map[string]bool{}
	var ids []string
	for i := 0; len(ids) < 3 && i < 100; i++ {
		id := fmt.Sprintf("c%d", i)
		m := f.Cluster.MasterOf(t, "user_profile:"+id).Addr
		if !seen[m] {
			seen[m] = true
			ids = append(ids, id)
		}
	}
	if len(ids) < 3 {
		t.Fatalf("keys on %d masters only", len(ids))
	}
	return ids
}

// TestClusterAcrossSlots: GET, MGET, PUT and DEL of items whose keys are on
// three masters; a fill's lease and an invalidation's marker are on the
// value's own slot (the master that holds the value).
func TestClusterAcrossSlots(t *testing.T) {
	f := enginetest.NewCluster(t)
	ids := spread(t, f)
	keys := make([]cache.Key, len(ids))
	for i, id := range ids {
		f.Seed(t, id, "N"+id)
		keys[i] = cache.Key{Partition: id}
	}
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	res, err := e.MGet(ctx, "profile", append(keys, cache.Key{Partition: "absent"}))
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if string(res[i].Value) != enginetest.UserJSON(id, "N"+id) {
			t.Errorf("MGET %s = %s", id, res[i].Value)
		}
	}
	if res[3].Value != nil {
		t.Errorf("MGET absent = %s", res[3].Value)
	}
	for _, id := range ids {
		vk := "user_profile:" + id
		node := f.Cluster.MasterOf(t, vk)
		if n := node.Do(t, "EXISTS", vk); n != int64(1) {
			t.Errorf("%s: EXISTS on its master %s = %v", vk, node.Addr, n)
		}
		doc := fmt.Sprintf(`{"user_id":%q,"name":"put"}`, id)
		if err := e.Put(ctx, "profile", []byte(doc)); err != nil {
			t.Fatalf("PUT %s: %v", id, err)
		}
		// The invalidation's marker is on the value's own master.
		if n := node.Do(t, "EXISTS", "{"+vk+"}:inv"); n != int64(1) {
			t.Errorf("{%s}:inv not on %s", vk, node.Addr)
		}
		r, err := e.Get(ctx, "profile", cache.Key{Partition: id})
		if err != nil || string(r.Value) != enginetest.UserJSON(id, "put") {
			t.Errorf("GET %s after PUT = %s, %v", id, r.Value, err)
		}
		if ok, err := e.Delete(ctx, "profile", cache.Key{Partition: id}); !ok || err != nil {
			t.Errorf("DEL %s = %v, %v", id, ok, err)
		}
		if r, err := e.Get(ctx, "profile", cache.Key{Partition: id}); err != nil || r.Value != nil {
			t.Errorf("GET %s after DEL = %s, %v", id, r.Value, err)
		}
	}
}

// TestClusterStampede: two daemons × 200 concurrent lookups of one cold
// key on the cluster cost one GetItem, counted at the proxy.
func TestClusterStampede(t *testing.T) {
	f := enginetest.NewCluster(t)
	f.Seed(t, "cold", "Cold")
	ctx := testenv.Context(t)
	engines := []*cache.Engine{f.Engine(t, nil), f.Engine(t, nil)}
	start := make(chan struct{})
	errs := make(chan error, 400)
	var wg sync.WaitGroup
	for _, e := range engines {
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := e.Get(ctx, "profile", cache.Key{Partition: "cold"})
				if err == nil && string(r.Value) != enginetest.UserJSON("cold", "Cold") {
					err = fmt.Errorf("got %s", r.Value)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.Proxy.Count("GetItem"); n != 1 {
		t.Errorf("400 lookups on 2 daemons cost %d GetItem, want 1", n)
	}
}

// TestClusterTrackingEveryNode: a value cached locally is dropped when it
// changes in Redis, whichever master holds it: every node pushes its
// tracking invalidations to the engine.
func TestClusterTrackingEveryNode(t *testing.T) {
	f := enginetest.NewCluster(t)
	ids := spread(t, f)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	for _, id := range ids {
		f.Seed(t, id, "old")
		// A fill, then Redis reads until one is cached locally (the
		// client-side cache keeps a value once Redis tracks it).
		before := e.Stats().Namespaces["profile"].HitsLocal
		enginetest.WaitFor(t, "a local hit of "+id, func() bool {
			if _, err := e.Get(ctx, "profile", cache.Key{Partition: id}); err != nil {
				t.Fatal(err)
			}
			return e.Stats().Namespaces["profile"].HitsLocal > before
		})
	}
	for _, id := range ids {
		want := enginetest.UserJSON(id, "new")
		if err := f.UC.Set(ctx, "user_profile:"+id, want, 0).Err(); err != nil {
			t.Fatal(err)
		}
		enginetest.WaitFor(t, "the change of user_profile:"+id+" on "+f.Cluster.MasterOf(t, "user_profile:"+id).Addr, func() bool {
			r, err := e.Get(ctx, "profile", cache.Key{Partition: id})
			return err == nil && bytes.Equal(r.Value, []byte(want))
		})
	}
}

// TestClusterPassthroughRouted: passthrough commands reach the master of
// their key, and a multi-key command across slots is refused with
// CROSSSLOT as Redis Cluster answers; one within a hash tag passes.
func TestClusterPassthroughRouted(t *testing.T) {
	f := enginetest.NewCluster(t)
	e := f.Engine(t, nil)
	ctx := testenv.Context(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, err := e.Forward(ctx, []string{"SET", k, "v" + k}, []int{1}, false); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if v := f.Cluster.MasterOf(t, k).Do(t, "GET", k); v != "v"+k {
			t.Errorf("%s on its master = %v", k, v)
		}
	}
	cases := []struct {
		args    []string
		keyPos  []int
		wantErr string
	}{
		{[]string{"MGET", "a", "b", "c"}, []int{1, 2, 3}, "CROSSSLOT"},
		{[]string{"DEL", "a", "b"}, []int{1, 2}, "CROSSSLOT"},
		{[]string{"MSET", "{t}x", "1", "{t}y", "2"}, []int{1, 3}, ""},
		{[]string{"MGET", "{t}x", "{t}y"}, []int{1, 2}, ""},
	}
	for _, tc := range cases {
		msg, err := e.Forward(ctx, tc.args, tc.keyPos, tc.args[0] == "MGET")
		if err == nil && msg.Kind == cache.ReplyError {
			err = errors.New(msg.Str)
		}
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr))) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}
