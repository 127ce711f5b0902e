package dynamo

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/smithy-go"
)

// ItemError is returned by Put when the item itself is at fault — DynamoDB
// refused it (over its 400 KB item limit, a key of the wrong type, …) or
// it is not a JSON object of UTF-8 text — so retrying cannot help. Callers
// that classify errors by what they say rather than by package tell it
// apart with its ItemTooLarge and ItemInvalid methods (cache does).
type ItemError struct {
	// TooLarge says the item exceeds DynamoDB's item size limit.
	TooLarge bool
	// Err is the cause: DynamoDB's ValidationException, or the decoding error.
	Err error
}

func (e *ItemError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ItemError) Unwrap() error { return e.Err }

// ItemTooLarge reports whether the item exceeds DynamoDB's size limit.
func (e *ItemError) ItemTooLarge() bool { return e.TooLarge }

// ItemInvalid reports whether the item is refused for any other reason.
func (e *ItemError) ItemInvalid() bool { return !e.TooLarge }

// putError classifies the error of a PutItem call: a ValidationException
// is about the item and permanent, anything else (throttling, network) is
// DynamoDB failing and may pass.
func putError(table string, err error) error {
	wrapped := fmt.Errorf("dynamo: PutItem %s: %w", table, err)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		return wrapped
	}
	msg := ae.ErrorMessage()
	tooLarge := strings.Contains(msg, "Item size has exceeded")
	if tooLarge {
		wrapped = fmt.Errorf("dynamo: PutItem %s: %s (DynamoDB's limit is 400 KB): %w", table, msg, err)
	}
	return &ItemError{TooLarge: tooLarge, Err: wrapped}
}

// checkUTF8 refuses a document that is not UTF-8: encoding/json would
// replace each invalid byte with U+FFFD, and the item stored would not be
// the one sent.
func checkUTF8(doc []byte) error {
	if utf8.Valid(doc) {
		return nil
	}
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && n == 1 {
			return &ItemError{Err: fmt.Errorf("dynamo: invalid UTF-8 at byte %d of the item (JSON must be UTF-8)", i)}
		}
		i += n
	}
	return nil
}
