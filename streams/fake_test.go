package streams_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeStreams is a DynamoDB Streams server for tests: dynalite has no
// Streams API, so this one speaks the real wire protocol (JSON 1.0 over
// HTTP POST, X-Amz-Target: DynamoDBStreams_20120810.<Operation>) with
// records shaped as AWS documents them. The AWS SDK client under test
// cannot tell it from the service.
type fakeStreams struct {
	URL string

	mu        sync.Mutex // guards everything below
	table     string
	shards    []*fakeShard
	iterators map[string]fakeIterator
	nextIt    int
	// trimmedBelow makes GetShardIterator AFTER_SEQUENCE_NUMBER fail with
	// TrimmedDataAccessException for sequence numbers below it.
	trimmedBelow int
	// requests logs "Operation shard type seq" for GetShardIterator.
	requests []string
}

type fakeShard struct {
	id, parent string
	records    []fakeRecord
	closed     bool
}

type fakeRecord struct {
	seq       int
	eventName string
	keys      map[string]map[string]string // DynamoDB JSON: {"user_id":{"S":"1"}}
}

type fakeIterator struct {
	shard *fakeShard
	pos   int // index of the next record
}

func newFakeStreams(t *testing.T, table string) *fakeStreams {
	f := &fakeStreams{table: table, iterators: map[string]fakeIterator{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeStreams) arn() string {
	return "arn:aws:dynamodb:us-east-1:123456789012:table/" + f.table + "/stream/2026-11-25T00:00:00.000"
}

// addShard adds an open shard.
func (f *fakeStreams) addShard(id, parent string) *fakeShard {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := &fakeShard{id: id, parent: parent}
	f.shards = append(f.shards, sh)
	return sh
}

// record appends a record for the item with partition key user_id = id.
func (f *fakeStreams) record(sh *fakeShard, seq int, event, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh.records = append(sh.records, fakeRecord{seq: seq, eventName: event,
		keys: map[string]map[string]string{"user_id": {"S": id}}})
}

func (f *fakeStreams) close(sh *fakeShard) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh.closed = true
}

func (f *fakeStreams) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeStreams) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDBStreams_20120810.")
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	str := func(k string) string { s, _ := in[k].(string); return s }
	switch op {
	case "ListStreams":
		if str("TableName") != f.table {
			reply(w, map[string]any{"Streams": []any{}})
			return
		}
		reply(w, map[string]any{"Streams": []any{map[string]any{
			"StreamArn": f.arn(), "StreamLabel": "2026-11-25T00:00:00.000", "TableName": f.table}}})
	case "DescribeStream":
		var shards []any
		for _, sh := range f.shards {
			rng := map[string]any{"StartingSequenceNumber": "100"}
			if sh.closed {
				rng["EndingSequenceNumber"] = "999999"
			}
			m := map[string]any{"ShardId": sh.id, "SequenceNumberRange": rng}
			if sh.parent != "" {
				m["ParentShardId"] = sh.parent
			}
			shards = append(shards, m)
		}
		reply(w, map[string]any{"StreamDescription": map[string]any{
			"StreamArn": f.arn(), "StreamLabel": "2026-11-25T00:00:00.000", "StreamStatus": "ENABLED",
			"StreamViewType": "KEYS_ONLY", "TableName": f.table, "CreationRequestDateTime": 1.7640288e9,
			"KeySchema": []any{map[string]any{"AttributeName": "user_id", "KeyType": "HASH"}},
			"Shards":    shards}})
	case "GetShardIterator":
		var sh *fakeShard
		for _, s := range f.shards {
			if s.id == str("ShardId") {
				sh = s
			}
		}
		if sh == nil {
			fail(w, "ResourceNotFoundException", "no shard "+str("ShardId"))
			return
		}
		typ, seq := str("ShardIteratorType"), str("SequenceNumber")
		f.requests = append(f.requests, strings.TrimSpace(fmt.Sprintf("GetShardIterator %s %s %s", sh.id, typ, seq)))
		pos := 0
		if typ == "AFTER_SEQUENCE_NUMBER" {
			n, _ := strconv.Atoi(seq)
			if n < f.trimmedBelow {
				fail(w, "TrimmedDataAccessException", "the requested sequence number is beyond the trim horizon")
				return
			}
			for pos < len(sh.records) && sh.records[pos].seq <= n {
				pos++
			}
		}
		reply(w, map[string]any{"ShardIterator": f.iterator(sh, pos)})
	case "GetRecords":
		it, ok := f.iterators[str("ShardIterator")]
		if !ok {
			fail(w, "ExpiredIteratorException", "iterator expired")
			return
		}
		var recs []any
		for _, rec := range it.shard.records[it.pos:] {
			recs = append(recs, map[string]any{
				"eventID": fmt.Sprintf("ev-%d", rec.seq), "eventName": rec.eventName, "eventVersion": "1.1",
				"eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
				"dynamodb": map[string]any{"ApproximateCreationDateTime": 1.7640288e9, "Keys": rec.keys,
					"SequenceNumber": strconv.Itoa(rec.seq), "SizeBytes": 26, "StreamViewType": "KEYS_ONLY"}})
		}
		out := map[string]any{"Records": recs}
		if !it.shard.closed {
			out["NextShardIterator"] = f.iterator(it.shard, len(it.shard.records))
		}
		reply(w, out)
	default:
		fail(w, "UnknownOperationException", op)
	}
}

// iterator registers an iterator; f.mu is held.
func (f *fakeStreams) iterator(sh *fakeShard, pos int) string {
	f.nextIt++
	id := fmt.Sprintf("it-%d", f.nextIt)
	f.iterators[id] = fakeIterator{shard: sh, pos: pos}
	return id
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg})
}
