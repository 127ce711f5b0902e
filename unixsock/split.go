package unixsock

// split splits an inline command line into arguments, appended to
// r.scratch and r.ends, the way Redis's sdssplitargs does, so that
// `redis-cli`-style and telnet input means what it means to Redis:
//
//   - spaces, tabs, "\r" and "\n" separate arguments (blanks before an
//     argument are skipped as C's isspace, so "\v" and "\f" too);
//   - "…" quotes with the escapes \n \r \t \b \a \\ \" and \xHH (any
//     other escaped character stands for itself);
//   - '…' quotes with \' as the only escape;
//   - a quote may start inside an argument (a"b c" is `ab c`), but a
//     closing quote must be followed by a blank or the end: otherwise,
//     and for an unterminated quote, "unbalanced quotes in request".
func (r *reader) split(line []byte) error {
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return nil
		}
		var inq, insq bool
		for done := false; !done; {
			var c byte
			if p < len(line) {
				c = line[p]
			}
			switch {
			case inq:
				switch {
				case p == len(line):
					return errUnbalancedQuotes
				case c == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
					r.scratch = append(r.scratch, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				case c == '\\' && p+1 < len(line):
					p++
					r.scratch = append(r.scratch, unescape(line[p]))
				case c == '"':
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return errUnbalancedQuotes
					}
					done = true
				default:
					r.scratch = append(r.scratch, c)
				}
			case insq:
				switch {
				case p == len(line):
					return errUnbalancedQuotes
				case c == '\\' && p+1 < len(line) && line[p+1] == '\'':
					p++
					r.scratch = append(r.scratch, '\'')
				case c == '\'':
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return errUnbalancedQuotes
					}
					done = true
				default:
					r.scratch = append(r.scratch, c)
				}
			default:
				switch {
				case p == len(line) || c == ' ' || c == '\n' || c == '\r' || c == '\t':
					done = true
				case c == '"':
					inq = true
				case c == '\'':
					insq = true
				default:
					r.scratch = append(r.scratch, c)
				}
			}
			if p < len(line) {
				p++
			}
		}
		r.ends = append(r.ends, len(r.scratch))
	}
}

// isSpace is C's isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// unescape is the character a backslash escape inside "…" stands for.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}
