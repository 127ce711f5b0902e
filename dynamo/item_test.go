package dynamo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ddbcache/ddbcache/internal/testenv"
)

// newTestClient starts dynalite with a table "users" (user_id: S) and a
// table "events" (account: N, seq: N), and returns a client for it.
func newTestClient(t *testing.T) (*Client, *testenv.Dynalite) {
	t.Helper()
	d := testenv.StartDynalite(t)
	d.CreateTable(t, "users", "user_id", "")
	d.CreateTable(t, "events", "account:N", "seq:N")
	c, err := New(context.Background(), Options{Endpoint: d.Endpoint, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c, d
}

func TestItems(t *testing.T) {
	c, d := newTestClient(t)
	ctx := testenv.Context(t)

	t.Run("put then get keeps the document exact", func(t *testing.T) {
		doc := `{"big":123456789012345678901234567890,"name":"Zoë","user_id":"1"}`
		if err := c.Put(ctx, "users", []byte(doc)); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "users", map[string]string{"user_id": "1"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != doc {
			t.Errorf("got %s, want %s", got, doc)
		}
	})
	t.Run("missing item is nil", func(t *testing.T) {
		got, err := c.Get(ctx, "users", map[string]string{"user_id": "nobody"}, false)
		if err != nil || got != nil {
			t.Fatalf("got %s, %v; want nil, nil", got, err)
		}
	})
	t.Run("numeric composite key", func(t *testing.T) {
		if err := c.Put(ctx, "events", []byte(`{"account":42,"seq":7,"kind":"login"}`)); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "events", map[string]string{"account": "42", "seq": "7"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"account":42,"kind":"login","seq":7}`; string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("bad key values", func(t *testing.T) {
		_, err := c.Get(ctx, "events", map[string]string{"account": "abc", "seq": "1"}, false)
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("non-numeric N key: err = %v, want ErrBadKey", err)
		}
		_, err = c.Get(ctx, "events", map[string]string{"account": "1"}, false)
		if !errors.Is(err, ErrMissingKey) {
			t.Errorf("missing sort key: err = %v, want ErrMissingKey", err)
		}
		err = c.Put(ctx, "users", []byte(`{"name":"no key"}`))
		if !errors.Is(err, ErrMissingKey) {
			t.Errorf("item without key: err = %v, want ErrMissingKey", err)
		}
	})
	t.Run("unknown table", func(t *testing.T) {
		if _, err := c.Get(ctx, "nope", map[string]string{"id": "1"}, false); err == nil {
			t.Error("no error for an unknown table")
		}
	})
	t.Run("delete reports existence", func(t *testing.T) {
		d.PutItem(t, "users", map[string]types.AttributeValue{"user_id": &types.AttributeValueMemberS{Value: "gone"}})
		for _, want := range []bool{true, false} {
			existed, err := c.Delete(ctx, "users", map[string]string{"user_id": "gone"})
			if err != nil || existed != want {
				t.Errorf("Delete = %v, %v; want %v", existed, err, want)
			}
		}
	})
	t.Run("capacity is counted", func(t *testing.T) {
		r, w := c.ConsumedCapacity("users")
		if r <= 0 || w <= 0 {
			t.Errorf("capacity read=%g write=%g, want both > 0", r, w)
		}
	})
}

func TestBatchGet(t *testing.T) {
	c, d := newTestClient(t)
	ctx := testenv.Context(t)
	// 250 items: more than two BatchGetItem calls' worth.
	for i := 0; i < 250; i++ {
		d.PutItem(t, "users", map[string]types.AttributeValue{
			"user_id": &types.AttributeValueMemberS{Value: fmt.Sprint(i)},
			"n":       &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
		})
	}
	var keys []map[string]string
	for i := 0; i < 250; i++ {
		keys = append(keys, map[string]string{"user_id": fmt.Sprint(i)})
	}
	// A duplicate and two absent keys: DynamoDB rejects duplicates in one
	// call, so the client must send each key once and answer both places.
	keys = append(keys, map[string]string{"user_id": "7"}, map[string]string{"user_id": "absent"})
	keys = append([]map[string]string{{"user_id": "absent-first"}}, keys...)
	got, err := c.BatchGet(ctx, "users", keys, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("%d results for %d keys", len(got), len(keys))
	}
	for i, k := range keys {
		var want string
		switch id := k["user_id"]; id {
		case "absent", "absent-first":
		default:
			want = fmt.Sprintf(`{"n":%s,"user_id":"%s"}`, id, id)
		}
		if string(got[i]) != want {
			t.Errorf("key %v: got %s, want %q", k, got[i], want)
		}
	}
}

func TestBatchGetNumericKeysMatchNormalised(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testenv.Context(t)
	if err := c.Put(ctx, "events", []byte(`{"account":5,"seq":1}`)); err != nil {
		t.Fatal(err)
	}
	// DynamoDB answers "5" for "05"; the result must still land in place.
	got, err := c.BatchGet(ctx, "events", []map[string]string{{"account": "05", "seq": "1.0"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != `{"account":5,"seq":1}` {
		t.Errorf("got %s", got[0])
	}
}
