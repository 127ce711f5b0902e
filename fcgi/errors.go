package fcgi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ddbcache/ddbcache/cache"
	"github.com/ddbcache/ddbcache/streams"
)

// apiError is the JSON body of every error response.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError writes {"error": msg, "code": code} with status.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Del("ETag")
	w.Header().Del("Cache-Control")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// engineError answers an error of the engine (or of reading the request)
// with its status:
//
//	400 bad_key, bad_item, bad_event, bad_request   bad input
//	404 unknown_namespace                          no such namespace
//	413 too_large                                  item or body too large
//	202 invalidation_pending                       written to DynamoDB; Redis failed
//	                                               before the cache entries were dropped
//	503 backend_unavailable                        DynamoDB or Redis failed
//	504 timeout                                    a deadline passed first
//	500 internal                                   anything else
func engineError(w http.ResponseWriter, err error) {
	status, code := classify(err)
	writeError(w, status, code, message(err))
}

// classify maps an error to its HTTP status and error code.
func classify(err error) (int, string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, cache.ErrUnknownNamespace):
		return http.StatusNotFound, "unknown_namespace"
	case errors.Is(err, cache.ErrBadKey):
		return http.StatusBadRequest, "bad_key"
	case errors.Is(err, cache.ErrBadItem):
		return http.StatusBadRequest, "bad_item"
	case errors.Is(err, streams.ErrBadEvent):
		return http.StatusBadRequest, "bad_event"
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, cache.ErrTooLarge), errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, cache.ErrPending):
		// The write happened: not an error status, which would make a
		// client retry (or give up on) a write that is done.
		return http.StatusAccepted, "invalidation_pending"
	case timedOut(err):
		return http.StatusGatewayTimeout, "timeout"
	case errors.Is(err, cache.ErrLoad), errors.Is(err, cache.ErrRedis), errors.Is(err, cache.ErrClosed):
		return http.StatusServiceUnavailable, "backend_unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// timedOut reports whether a deadline passed first: the engine wraps the
// loader's error, and with it context.DeadlineExceeded, in ErrLoad.
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded)
}

// errBadRequest marks a malformed request (body, key list) found by this
// package rather than by the engine.
var errBadRequest = errors.New("bad request")

// message is err as a client should read it: without the package prefix.
func message(err error) string {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return "request body exceeds " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"
	}
	return strings.TrimPrefix(err.Error(), "cache: ")
}

func itoa(n int) string { return strconv.Itoa(n) }
