package broker

import (
	"math/bits"
	"unicode/utf8"
)

// AppendJSONString appends s as a JSON string the way encoding/json's
// Marshal writes one (HTML characters, U+2028 and U+2029 escaped, invalid
// UTF-8 replaced), so that hand-written encoders give the bytes Marshal
// gave. The loop is encoding/json's appendString, which it skips
// through eight bytes at a time.
func AppendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = AppendJSONStringBody(dst, s)
	return append(dst, '"')
}

// AppendJSONStringBody is AppendJSONString without the quotes, for a string
// written in pieces.
func AppendJSONStringBody[S string | []byte](dst []byte, s S) []byte {
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
