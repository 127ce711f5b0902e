package cache

import (
	"strings"
	"testing"
	"time"
)

func TestCompileNamespace(t *testing.T) {
	cases := []struct {
		name    string
		ns      Namespace
		wantKey string // redis key of {Partition: "42", Sort: "7"} (or "42")
		wantErr string
	}{
		{"legacy template", Namespace{Name: "profile", Table: "users", PartitionKey: "user_id", RedisKey: "user_profile:{user_id}"}, "user_profile:42", ""},
		{"default template", Namespace{Name: "profile", Table: "users", PartitionKey: "user_id"}, "profile:42", ""},
		{"default with sort key", Namespace{Name: "ev", Table: "events", PartitionKey: "a", SortKey: "s"}, "ev:42:7", ""},
		{"sort key first", Namespace{Name: "ev", Table: "events", PartitionKey: "a", SortKey: "s", RedisKey: "x:{s}/{a}"}, "x:7/42", ""},
		{"no table", Namespace{Name: "p", PartitionKey: "id"}, "", "table is required"},
		{"no partition key", Namespace{Name: "p", Table: "t"}, "", "partition_key is required"},
		{"template misses key", Namespace{Name: "p", Table: "t", PartitionKey: "id", RedisKey: "p:static"}, "", "must contain {id}"},
		{"template misses sort key", Namespace{Name: "p", Table: "t", PartitionKey: "id", SortKey: "s", RedisKey: "p:{id}"}, "", "must contain {s}"},
		{"template names other attribute", Namespace{Name: "p", Table: "t", PartitionKey: "id", RedisKey: "p:{id}:{name}"}, "", "not a key attribute"},
		{"unclosed brace", Namespace{Name: "p", Table: "t", PartitionKey: "id", RedisKey: "p:{id"}, "", "unclosed"},
		{"jitter too big", Namespace{Name: "p", Table: "t", PartitionKey: "id", TTLJitter: 1}, "", "ttl_jitter"},
		{"space in name", Namespace{Name: "a b", Table: "t", PartitionKey: "id"}, "", "spaces"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := compile(tc.ns)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := Key{Partition: "42"}
			if ns.SortKey != "" {
				k.Sort = "7"
			}
			if got := ns.redisKey(k); got != tc.wantKey {
				t.Errorf("redis key = %q, want %q", got, tc.wantKey)
			}
		})
	}
}

func TestKeyCheck(t *testing.T) {
	plain, _ := compile(Namespace{Name: "p", Table: "t", PartitionKey: "id"})
	sorted, _ := compile(Namespace{Name: "s", Table: "t", PartitionKey: "id", SortKey: "sk"})
	cases := []struct {
		name string
		ns   *namespace
		key  Key
		ok   bool
	}{
		{"plain", plain, Key{Partition: "1"}, true},
		{"empty", plain, Key{}, false},
		{"sort key where none", plain, Key{Partition: "1", Sort: "2"}, false},
		{"missing sort key", sorted, Key{Partition: "1"}, false},
		{"with sort key", sorted, Key{Partition: "1", Sort: "2"}, true},
		{"hash tag braces", plain, Key{Partition: "a{b}"}, false},
		{"too long", plain, Key{Partition: strings.Repeat("x", maxKeyBytes+1)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.ns.check(tc.key); (err == nil) != tc.ok {
				t.Errorf("check(%+v) = %v, want ok=%v", tc.key, err, tc.ok)
			}
		})
	}
}

func TestTTLJitterBounds(t *testing.T) {
	ns, err := compile(Namespace{Name: "p", Table: "t", PartitionKey: "id", TTL: time.Hour, TTLJitter: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 54*time.Minute, 66*time.Minute
	lowest, highest := hi, lo
	for i := 0; i < 10000; i++ {
		d := ns.ttl()
		if d < lo || d > hi {
			t.Fatalf("ttl %s outside [%s, %s]", d, lo, hi)
		}
		lowest, highest = min(lowest, d), max(highest, d)
	}
	// The jitter must actually spread expiries over most of the range.
	if highest-lowest < 10*time.Minute {
		t.Errorf("ttl spread only %s..%s", lowest, highest)
	}
}
