package unixsock

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/tidwall/redcon"
)

// Protocol limits. Each is checked on the length a client announces,
// before anything of that length is buffered: redcon's reader, which this
// one replaces, had none, so one frame could panic it
// ("$9223372036854775807"), spin it ("*9223372036854775807") or make it
// buffer whatever a client sent.
const (
	// maxMultibulk is Redis's bound on a command's argument count.
	maxMultibulk = 1024 * 1024
	// maxBulkLen is Redis's default proto-max-bulk-len: a longer bulk
	// is a broken frame, not a large value.
	maxBulkLen = 512 << 20
	// maxInline is Redis's PROTO_INLINE_MAX_SIZE: the longest inline
	// command line, and the longest "*N" or "$N" line.
	maxInline = 64 << 10
	// maxQueryBytes bounds the bytes of one command read, discarded
	// arguments included, as Redis's client-query-buffer-limit does.
	maxQueryBytes = 1 << 30
	// unauthMultibulk and unauthBulk are Redis's tighter bounds for a
	// client that has yet to AUTH.
	unauthMultibulk = 10
	unauthBulk      = 16 << 10
	// argOverhead is what an argument costs beyond its bytes (its slice
	// header and offset), counted against the command's byte budget so
	// that a million empty arguments are bounded too.
	argOverhead = 32
	// readBufSize is each connection's read buffer.
	readBufSize = 16 << 10
	// keepScratch is the largest argument buffer a connection keeps
	// between commands; a larger one, grown for one large command, is
	// dropped so that the memory goes back once the command is done.
	keepScratch = 64 << 10
	// bulkChunk is how much of a bulk is buffered ahead of its arrival:
	// a client that announces 1 MiB and sends 10 bytes costs 64 KiB.
	bulkChunk = 64 << 10
)

// protocolError is a broken frame: it is answered "-ERR Protocol error: …"
// with Redis's own wording, and the connection is closed, as Redis does.
type protocolError string

func (e protocolError) Error() string { return "Protocol error: " + string(e) }

// The protocol errors of Redis's networking.c.
const (
	errMultibulkLength   protocolError = "invalid multibulk length"
	errBulkLength        protocolError = "invalid bulk length"
	errInlineTooBig      protocolError = "too big inline request"
	errMbulkCountTooBig  protocolError = "too big mbulk count string"
	errBulkCountTooBig   protocolError = "too big bulk count string"
	errUnbalancedQuotes  protocolError = "unbalanced quotes in request"
	errUnauthMultibulk   protocolError = "unauthenticated multibulk length"
	errUnauthBulk        protocolError = "unauthenticated bulk length"
	errQueryBufferExceed protocolError = "query buffer limit exceeded"
)

// refusedError is a well-formed command over a size limit: it was read to
// its end without being buffered, so the connection stays usable, and
// the command is answered with the error instead of being run.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// reader reads RESP2 commands (multibulk and inline) one at a time from a
// connection, within the limits above. A command's arguments are copied
// into one allocation of their own, so handlers may keep them.
type reader struct {
	br *bufio.Reader
	// maxArg bounds one argument (max_value_bytes) and maxCommand the
	// buffered arguments of one command; larger ones are refused.
	maxArg, maxCommand int
	// authed is false while the client must still AUTH: Redis's
	// unauthenticated bounds apply.
	authed bool
	// inCommand is true from a command's first byte to its end, for the
	// read deadline.
	inCommand bool
	scratch   []byte   // the current command's argument bytes
	ends      []int    // where each argument ends in scratch
	args      [][]byte // the current command's arguments, slices of scratch
}

func newReader(r io.Reader, maxArg, maxCommand int) *reader {
	return &reader{br: bufio.NewReaderSize(r, readBufSize), maxArg: maxArg, maxCommand: maxCommand}
}

// readCommand returns the next non-empty command. An error is either a
// read error (the client went or timed out), a protocolError (answer and
// close) or a *refusedError (answer and go on).
func (r *reader) readCommand() (redcon.Command, error) {
	for {
		r.inCommand = false
		b, err := r.br.Peek(1)
		if err != nil {
			return redcon.Command{}, err
		}
		r.inCommand = true
		r.scratch, r.ends = r.scratch[:0], r.ends[:0]
		if b[0] == '*' {
			err = r.readMultibulk()
		} else {
			err = r.readInline()
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the client went mid-command
		}
		if err != nil {
			r.release()
			return redcon.Command{}, err
		}
		if len(r.ends) == 0 {
			continue // "*0", "*-1" or an empty line: Redis skips them
		}
		cmd := r.command()
		r.inCommand = false
		r.release()
		return cmd, nil
	}
}

// command returns the arguments read as a Command that shares the
// reader's buffers, valid until the next readCommand: commands are read
// one at a time and run before the next is read, and no handler keeps
// its arguments (they copy what they keep). A copy per command was 2 of
// the round trip's allocations.
func (r *reader) command() redcon.Command {
	data, args := r.scratch, r.args[:0]
	start := 0
	for _, end := range r.ends {
		args = append(args, data[start:end:end])
		start = end
	}
	r.args = args
	return redcon.Command{Raw: data, Args: args}
}

// release drops buffers grown for one large command.
func (r *reader) release() {
	if cap(r.scratch) > keepScratch {
		r.scratch = nil
	}
	if cap(r.ends) > keepScratch/8 {
		r.ends, r.args = nil, nil
	}
}

// line reads a line of at most maxInline bytes ending in "\r\n" and
// returns it without the "\r\n"; tooBig is the error for a longer line.
// The line is valid until the next read.
func (r *reader) line(tooBig protocolError) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A header line longer than the read buffer is no RESP frame.
		return nil, tooBig
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, nil // the caller reports its own length error
	}
	return line[:len(line)-2], nil
}

// parseLen parses a RESP length as Redis's string2ll does: an optional
// '-', then digits without a leading zero, within int64.
func parseLen(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// readMultibulk reads "*N\r\n" and N bulks "$len\r\n<bytes>\r\n".
func (r *reader) readMultibulk() error {
	line, err := r.line(errMbulkCountTooBig)
	if err != nil {
		return err
	}
	n, ok := parseLen(line[min(1, len(line)):])
	switch {
	case line == nil || !ok || n > maxMultibulk:
		return errMultibulkLength
	case n > unauthMultibulk && !r.authed:
		return errUnauthMultibulk
	case n <= 0:
		return nil
	}
	var refused error
	frame, buffered := 0, 0
	for i := int64(0); i < n; i++ {
		line, err := r.line(errBulkCountTooBig)
		if err != nil {
			return err
		}
		if len(line) == 0 || line[0] != '$' {
			if line == nil {
				return errBulkLength
			}
			got := byte(' ')
			if len(line) > 0 {
				got = line[0]
			}
			return protocolError(fmt.Sprintf("expected '$', got '%c'", got))
		}
		size64, ok := parseLen(line[1:])
		if !ok || size64 < 0 || size64 > maxBulkLen {
			return errBulkLength
		}
		size := int(size64)
		if size > unauthBulk && !r.authed {
			return errUnauthBulk
		}
		if frame += size + 2; frame > maxQueryBytes {
			return errQueryBufferExceed
		}
		if refused == nil {
			buffered += size + argOverhead
			switch {
			case size > r.maxArg:
				refused = &refusedError{fmt.Sprintf("ERR value too large: argument of %d bytes exceeds max_value_bytes (%d)", size, r.maxArg)}
			case buffered > r.maxCommand:
				refused = &refusedError{fmt.Sprintf("ERR value too large: command of more than %d bytes exceeds the limit of max_value_bytes + 64 KiB", r.maxCommand)}
			}
		}
		if refused != nil {
			// Read past the argument without keeping it.
			if _, err := r.br.Discard(size + 2); err != nil {
				return err
			}
			continue
		}
		if err := r.bulk(size); err != nil {
			return err
		}
	}
	return refused
}

// bulk appends a bulk of size bytes and its "\r\n" to scratch, growing
// scratch only as the bytes arrive.
func (r *reader) bulk(size int) error {
	start := len(r.scratch)
	for need := size + 2; need > 0; {
		chunk := min(need, bulkChunk)
		at := len(r.scratch)
		r.scratch = slices.Grow(r.scratch, chunk)[:at+chunk]
		if _, err := io.ReadFull(r.br, r.scratch[at:]); err != nil {
			return err
		}
		need -= chunk
	}
	if !bytes.HasSuffix(r.scratch[start:], []byte("\r\n")) {
		return errBulkLength
	}
	r.scratch = r.scratch[:len(r.scratch)-2]
	r.ends = append(r.ends, len(r.scratch))
	return nil
}

// readInline reads one line of at most maxInline bytes and splits it as
// Redis's sdssplitargs does.
func (r *reader) readInline() error {
	var line, long []byte
	for {
		part, err := r.br.ReadSlice('\n')
		if len(long)+len(part) > maxInline {
			return errInlineTooBig
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if err == nil && long == nil {
			line = part // the common case: the whole line is in the buffer
			break
		}
		long = append(long, part...) // a line longer than the buffer
		if err == nil {
			line = long
			break
		}
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	// Redis splits a C string: a NUL byte ends the line.
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	if err := r.split(line); err != nil {
		return err
	}
	start := 0
	for _, end := range r.ends {
		if n := end - start; n > r.maxArg {
			r.ends = r.ends[:0]
			return &refusedError{fmt.Sprintf("ERR value too large: argument of %d bytes exceeds max_value_bytes (%d)", n, r.maxArg)}
		}
		start = end
	}
	return nil
}
