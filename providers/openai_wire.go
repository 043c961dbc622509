package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// This file holds the byte-level plumbing of the chat-completions hot path:
// JSON values appended the way encoding/json writes them, the pooled request
// body the attempts share, and the capped read of the answer.

// appendJSONString appends s as a JSON string the way encoding/json's
// Marshal writes one (HTML characters, U+2028 and U+2029 escaped, invalid
// UTF-8 replaced), so that the request body is byte for byte the one
// go-openai sent. The loop is encoding/json's appendString, which it skips
// through eight bytes at a time.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringBody(dst, s)
	return append(dst, '"')
}

// appendJSONStringBody is appendJSONString without the quotes, for a string
// written in pieces.
func appendJSONStringBody[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			m := escapeMask8(word64(s, i))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8 // the first byte to look at
		}
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe(b) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Other control characters, and <, > and &.
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// word64 reads the eight bytes of s at i as a little-endian word; the
// compiler turns it into one load.
func word64[S string | []byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// htmlSafe reports whether encoding/json writes the ASCII byte b as is.
func htmlSafe(b byte) bool {
	return b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// escapeMask8 flags, with its high bit, each of the eight bytes of w that
// htmlSafe rejects or that is not ASCII; the lowest flag is exact, those
// above it may be false. It uses the "has a zero byte" bit trick,
// (y-0x01…)&^y&0x80…; '"' and '&' differ in one bit, as do '<' and '>', so
// one test covers each pair.
func escapeMask8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	t := (w - ones*' ') &^ w // a byte below 0x20
	y := (w ^ ones*'"') &^ (ones * ('"' ^ '&'))
	t |= (y - ones) &^ y
	y = (w ^ ones*'<') &^ (ones * ('<' ^ '>'))
	t |= (y - ones) &^ y
	y = w ^ ones*'\\'
	t |= (y - ones) &^ y
	return (t | w) & highs
}

// appendJSONFloat32 appends f as encoding/json writes a float32. It fails,
// as Marshal does, for NaN and infinities.
func appendJSONFloat32(dst []byte, f float32) ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return dst, &json.UnsupportedValueError{Str: strconv.FormatFloat(v, 'g', -1, 32)}
	}
	format := byte('f')
	if abs := float32(math.Abs(v)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, v, format, -1, 32)
	if n := len(dst); format == 'e' && n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
		dst[n-2] = dst[n-1] // e-09 to e-9
		dst = dst[:n-1]
	}
	return dst, nil
}

// appendRawJSON appends raw as encoding/json writes a json.RawMessage:
// checked, compacted and HTML-escaped.
func appendRawJSON(dst []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil
	}
	start := len(dst)
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	if bytes.ContainsAny(out[start:], "<>&\u2028\u2029") {
		tail := bytes.Clone(out[start:])
		buf.Truncate(start)
		json.HTMLEscape(buf, tail)
		out = buf.Bytes()
	}
	return out, nil
}

// maxPooled is the largest buffer put back in a pool: a rare huge prompt or
// answer should not stay in memory for the next small one.
const maxPooled = 1 << 20

// reqBody is an encoded request body, shared by the attempts that send it.
// It is never recycled for another call: a transport may still read or
// close a request's body after RoundTrip has returned (see
// http.RoundTripper), and a recycled buffer could then carry another
// call's prompt.
type reqBody struct{ b []byte }

func (rb *reqBody) reader() io.ReadCloser { return io.NopCloser(bytes.NewReader(rb.b)) }

// errOverLimit reports a body longer than the limit readCapped was given.
var errOverLimit = errors.New("body over limit")

// readCapped reads r to its end into buf, reusing buf's memory, and returns
// errOverLimit, with limit+1 bytes read, when r has more than limit bytes.
// size is the length announced, or -1.
func readCapped(buf []byte, r io.Reader, limit, size int64) ([]byte, error) {
	want := 512
	if size >= 0 && size <= limit {
		want = int(size) + 1 // room to read the EOF without growing
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(int64(cap(buf)), limit+1)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		switch {
		case int64(len(buf)) > limit:
			return buf, errOverLimit
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}
