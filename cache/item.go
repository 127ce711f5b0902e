package cache

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Items that can never be stored.
//
// A write that DynamoDB refuses because of the item itself is the client's
// error and permanent: reporting it as ErrLoad ("DynamoDB request failed")
// would have the fronts answer 503, which tells clients to retry. So a
// Loader's Put error that implements one of these methods (dynamo.ItemError
// does) becomes ErrTooLarge or ErrBadItem instead.
type (
	itemTooLarge interface{ ItemTooLarge() bool }
	itemInvalid  interface{ ItemInvalid() bool }
)

// putError classifies the error of Loader.Put.
func putError(err error) error {
	var big itemTooLarge
	if errors.As(err, &big) && big.ItemTooLarge() {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	var bad itemInvalid
	if errors.As(err, &bad) && bad.ItemInvalid() {
		return fmt.Errorf("%w: %w", ErrBadItem, err)
	}
	return fmt.Errorf("%w: %w", ErrLoad, err)
}

// checkUTF8 refuses a document that is not UTF-8, before DynamoDB is
// touched. JSON must be UTF-8 (RFC 8259), and encoding/json would quietly
// replace every invalid byte with U+FFFD, storing an item other than the
// one sent.
func checkUTF8(doc []byte) error {
	if utf8.Valid(doc) {
		return nil
	}
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Errorf("%w: invalid UTF-8 at byte %d (JSON must be UTF-8)", ErrBadItem, i)
		}
		i += n
	}
	return nil
}
