package broker

import (
	"bytes"
	"encoding/json"
	"iter"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// wireReader is a strict JSON reader over one body. On the first thing it
// does not accept it fails: bad is set and the rest of the input is
// dropped, so every later read fails too and every loop ends.
type wireReader struct {
	data     []byte
	off      int
	bad      bool
	depth    int // of objects and arrays open
	maxDepth int
	words    []string // strings str returns without allocating a copy
}

func (r *wireReader) fail() {
	r.bad = true
	r.off = len(r.data)
}

// next skips white space and returns the next byte without consuming it,
// or 0 at the end of the input.
func (r *wireReader) next() byte {
	for ; r.off < len(r.data); r.off++ {
		switch c := r.data[r.off]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// consume consumes c if it comes next.
func (r *wireReader) consume(c byte) bool {
	if r.next() == c {
		r.off++
		return true
	}
	return false
}

func (r *wireReader) expect(c byte) {
	if !r.consume(c) {
		r.fail()
	}
}

// open consumes c, '{' or '[', which opens one more level.
func (r *wireReader) open(c byte) {
	r.expect(c)
	if r.depth++; r.depth > r.maxDepth {
		r.fail()
	}
}

// closes consumes c, '}' or ']', if it comes next.
func (r *wireReader) closes(c byte) bool {
	if r.consume(c) {
		r.depth--
		return true
	}
	return false
}

// end reads the rest of an object or an array: c, or a comma and more.
func (r *wireReader) end(c byte) (more bool) {
	if r.consume(',') {
		return true
	}
	if !r.closes(c) {
		r.fail()
	}
	return false
}

// null consumes a null literal if one comes next.
func (r *wireReader) null() bool {
	if r.next() != 'n' {
		return false
	}
	r.literal("null")
	return true
}

func (r *wireReader) literal(lit string) {
	if !bytes.HasPrefix(r.data[r.off:], []byte(lit)) {
		r.fail()
		return
	}
	r.off += len(lit)
}

// fields reads an object (or null, which holds nothing) and yields the name
// of each member that is one of names (at most 32), for the loop body to
// read its value.
// Other members are checked and skipped. It fails on a repeated name and on
// a name that differs from one of names only in case, or has a non-ASCII
// letter that might fold to one: encoding/json would fill a field from it.
func (r *wireReader) fields(names []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if r.null() {
			return
		}
		r.open('{')
		if r.closes('}') {
			return
		}
		var seen uint32
		for more := true; more && !r.bad; more = r.end('}') {
			key := r.key()
			r.expect(':')
			switch i := indexOf(names, key); {
			case i >= 0 && seen&(1<<i) == 0:
				seen |= 1 << i
				if !yield(names[i]) {
					r.fail()
					return
				}
			case i >= 0 || foldsToAny(key, names):
				r.fail()
			default:
				r.skip()
			}
		}
	}
}

func indexOf(names []string, key []byte) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	return -1
}

func foldsToAny(key []byte, names []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// wireArray reads an array (nil for null), reading each element with elem
// into a zero value.
func wireArray[T any](r *wireReader, elem func(*T)) []T {
	if r.null() {
		return nil
	}
	r.open('[')
	s := []T{}
	if r.closes(']') {
		return s
	}
	for more := true; more && !r.bad; more = r.end(']') {
		var zero T
		s = append(s, zero)
		elem(&s[len(s)-1])
	}
	return s
}

// str reads a string, "" for null.
func (r *wireReader) str() string {
	if r.null() {
		return ""
	}
	start, end, escaped := r.quoted()
	if escaped {
		return unescape(r.data[start:end])
	}
	b := r.data[start:end]
	for _, w := range r.words {
		if string(b) == w {
			return w
		}
	}
	return string(b)
}

// key reads an object key. Unless it has escapes it aliases the input.
func (r *wireReader) key() []byte {
	start, end, escaped := r.quoted()
	if escaped {
		return []byte(unescape(r.data[start:end]))
	}
	return r.data[start:end]
}

// quoted reads a string and returns where its contents start and end and
// whether they hold escapes, which it checks.
func (r *wireReader) quoted() (start, end int, escaped bool) {
	if r.next() != '"' {
		r.fail()
		return r.off, r.off, false
	}
	start = r.off + 1
	for i := start; i < len(r.data); i++ {
		switch c := r.data[i]; {
		case c == '"':
			r.off = i + 1
			return start, i, escaped
		case c == '\\':
			n := escapeLen(r.data[i:])
			if n == 0 {
				r.fail()
				return r.off, r.off, false
			}
			escaped = true
			i += n - 1
		case c < ' ':
			r.fail()
			return r.off, r.off, false
		}
	}
	r.fail()
	return r.off, r.off, false
}

// escapeLen returns the length of the escape sequence s starts with, or 0
// if it is not one JSON allows.
func escapeLen(s []byte) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if hex4(s[2:]) >= 0 {
			return 6
		}
	}
	return 0
}

// unescape decodes the contents of a string whose escapes quoted has
// checked, as encoding/json does: an unpaired surrogate becomes U+FFFD.
func unescape(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			b.Write(s)
			break
		}
		b.Write(s[:i])
		c := s[i+1]
		s = s[i+2:]
		switch c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			rr := rune(hex4(s))
			s = s[4:]
			if utf16.IsSurrogate(rr) {
				rr2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					rr2 = rune(hex4(s[2:]))
				}
				if dec := utf16.DecodeRune(rr, rr2); dec != unicode.ReplacementChar {
					b.WriteRune(dec)
					s = s[6:]
					continue
				}
				rr = unicode.ReplacementChar
			}
			b.WriteRune(rr)
		default: // '"', '\\', '/'
			b.WriteByte(c)
		}
	}
	return b.String()
}

// hex4 decodes four hex digits, or returns -1.
func hex4(s []byte) int {
	if len(s) < 4 {
		return -1
	}
	n := 0
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		n = n<<4 | int(c)
	}
	return n
}

// float reads a number, nil for null. It fails where encoding/json reports
// an error: a number out of the range of float64.
func (r *wireReader) float() *float64 {
	if r.null() {
		return nil
	}
	start := r.off
	r.number()
	if r.bad {
		return nil
	}
	f, err := strconv.ParseFloat(string(r.data[start:r.off]), 64)
	if err != nil {
		r.fail()
		return nil
	}
	return &f
}

// bool reads true or false, nil for null.
func (r *wireReader) bool() *bool {
	var v bool
	switch r.next() {
	case 'n':
		r.literal("null")
		return nil
	case 't':
		r.literal("true")
		v = true
	case 'f':
		r.literal("false")
	default:
		r.fail()
	}
	return &v
}

// id reads a JSON-RPC id: a string or a number, kept as it came.
func (r *wireReader) id() json.RawMessage {
	if c := r.next(); c != '"' && c != '-' && (c < '0' || c > '9') {
		r.fail()
		return nil
	}
	return r.raw()
}

// raw reads any value and returns a copy of its text, null included.
func (r *wireReader) raw() json.RawMessage {
	v := r.value()
	if r.bad {
		return nil
	}
	return append(json.RawMessage(nil), v...)
}

// value reads any value and returns its text, aliasing the input.
func (r *wireReader) value() []byte {
	r.next()
	start := r.off
	r.skip()
	return r.data[start:r.off]
}

// skip reads and checks any value.
func (r *wireReader) skip() {
	switch c := r.next(); {
	case c == '{':
		r.open('{')
		if r.closes('}') {
			return
		}
		for more := true; more && !r.bad; more = r.end('}') {
			r.quoted()
			r.expect(':')
			r.skip()
		}
	case c == '[':
		r.open('[')
		if r.closes(']') {
			return
		}
		for more := true; more && !r.bad; more = r.end(']') {
			r.skip()
		}
	case c == '"':
		r.quoted()
	case c == '-' || '0' <= c && c <= '9':
		r.number()
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	default:
		r.fail()
	}
}

// number reads a number as JSON spells it: no leading zeros, no leading
// '+' or '.', digits after a point and in an exponent.
func (r *wireReader) number() {
	d := r.data
	i := r.off
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = digits(d, i)
	default:
		r.fail()
		return
	}
	if i < len(d) && d[i] == '.' {
		if j := digits(d, i+1); j > i+1 {
			i = j
		} else {
			r.fail()
			return
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if j := digits(d, i); j > i {
			i = j
		} else {
			r.fail()
			return
		}
	}
	r.off = i
}

// digits returns the index after the run of digits starting at i.
func digits(d []byte, i int) int {
	for i < len(d) && '0' <= d[i] && d[i] <= '9' {
		i++
	}
	return i
}
