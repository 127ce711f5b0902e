package fcgi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/streams"
)

// xCache is the X-Cache header of each lookup source: a hit came from a
// cache (the daemon's memory or Redis), a miss read DynamoDB. The values
// are header slices shared by all responses (never modified), so that
// the hot path sets them without allocating.
var xCache = map[cache.Source][]string{
	cache.SourceLocal:    {"hit"},
	cache.SourceRedis:    {"hit"},
	cache.SourceNegative: {"negative"},
	cache.SourceDynamo:   {"miss"},
	cache.SourceStale:    {"stale"},
	cache.SourceDegraded: {"miss"},
}

// get answers GET /v1/{ns}/{key}[/{sort}]: the item's JSON, exactly the
// bytes stored in Redis (and returned by DDB GET on the socket), with a
// strong ETag of those bytes; 304 when If-None-Match names that ETag.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, ns string, k cache.Key) {
	ctx, cancel := h.context(r)
	defer cancel()
	res, err := h.engine.Get(ctx, ns, k)
	if err != nil {
		engineError(w, err)
		return
	}
	hd := w.Header()
	hd["X-Cache"] = xCache[res.Source]
	// Cache-Control and ETag share one backing array: one allocation, not
	// two (the names are canonical already, so no Set).
	vals := make([]string, 2)
	vals[0] = maxAge(res.TTL)
	hd["Cache-Control"] = vals[0:1:1]
	if res.Value == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: notFound(ns, k), Code: "not_found"})
		return
	}
	etag := etagOf(res.Value)
	vals[1] = etag
	hd["Etag"] = vals[1:2:2]
	if noneMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, http.StatusOK, res.Value)
}

// maxAge is the Cache-Control value for an answer that stays fresh for
// ttl (whole seconds, rounded down); an unknown TTL (0) allows no reuse.
func maxAge(ttl time.Duration) string {
	return "max-age=" + strconv.FormatInt(int64(ttl/time.Second), 10)
}

// etagOf returns a strong ETag of b: the first 128 bits of its SHA-256.
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	var buf [2 + 32]byte
	buf[0] = '"'
	hex.Encode(buf[1:33], sum[:16])
	buf[33] = '"'
	return string(buf[:])
}

// noneMatch reports whether an If-None-Match header names etag (or is
// "*"). The comparison is the weak one that RFC 9110 prescribes for
// If-None-Match: W/"x" matches "x".
func noneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// notFound is the error message of an absent item.
func notFound(ns string, k cache.Key) string {
	if k.Sort != "" {
		return fmt.Sprintf("no item '%s' '%s' '%s'", ns, k.Partition, k.Sort)
	}
	return fmt.Sprintf("no item '%s' '%s'", ns, k.Partition)
}

// readBody reads the request body, at most Options.MaxBodyBytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := h.maxBody()
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return nil, err
		}
		return nil, fmt.Errorf("%w: reading the body: %v", errBadRequest, err)
	}
	return b, nil
}

// put answers PUT /v1/{ns}/{key}[/{sort}] with 204 once DynamoDB accepted
// the item in the body and its cache entries were invalidated. The key in
// the path must be the item's.
func (h *Handler) put(w http.ResponseWriter, r *http.Request, ns string, k cache.Key) {
	body, err := h.readBody(w, r)
	if err != nil {
		engineError(w, err)
		return
	}
	if info, ok := h.engine.Namespace(ns); ok {
		if err := pathMatchesItem(info, k, body); err != nil {
			engineError(w, err)
			return
		}
	}
	ctx, cancel := h.context(r)
	defer cancel()
	if err := h.engine.Put(ctx, ns, body); err != nil {
		engineError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// pathMatchesItem checks that the key attributes of item, where it has
// them, equal the key of the path. A malformed item passes: the engine
// rejects it with the precise reason.
func pathMatchesItem(info cache.NamespaceInfo, k cache.Key, item []byte) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(item, &fields) != nil {
		return nil
	}
	check := func(attr, want string) error {
		raw, ok := fields[attr]
		if !ok {
			return nil
		}
		got, ok := keyText(raw)
		if ok && got != want {
			return fmt.Errorf("%w: the key in the path ('%s') is not the item's %s ('%s')", cache.ErrBadKey, want, attr, got)
		}
		return nil
	}
	if err := check(info.PartitionKey, k.Partition); err != nil {
		return err
	}
	if info.SortKey != "" {
		return check(info.SortKey, k.Sort)
	}
	if k.Sort != "" {
		return fmt.Errorf("%w: namespace '%s' has no sort key", cache.ErrBadKey, info.Name)
	}
	return nil
}

// keyText returns a JSON string's value or a JSON number's text.
func keyText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", false
	}
	return n.String(), true
}

// del answers DELETE /v1/{ns}/{key}[/{sort}]: 200 {"deleted":true}, or
// 404 when there was no such item (DynamoDB and the cache were still
// cleared).
func (h *Handler) del(w http.ResponseWriter, r *http.Request, ns string, k cache.Key) {
	ctx, cancel := h.context(r)
	defer cancel()
	existed, err := h.engine.Delete(ctx, ns, k)
	if err != nil {
		engineError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !existed {
		writeJSON(w, http.StatusNotFound, apiError{Error: notFound(ns, k), Code: "not_found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
}

// stream answers POST /v1/_stream: the body is a DynamoDB Streams event as
// AWS Lambda receives it; its items' cache entries are invalidated.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	body, err := h.readBody(w, r)
	if err != nil {
		engineError(w, err)
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	n, err := streams.InvalidateEvent(ctx, h.engine, body)
	if err != nil {
		engineError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]int{"invalidated": n})
}
