package filters

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// hidden counts the invisible characters normalize removed from a text.
type hidden struct {
	zeroWidth int // zero-width spaces and joiners, soft hyphens, fillers
	bidi      int // bidirectional overrides, embeddings and isolates
	tags      int // Unicode tag characters (U+E0000–U+E007F)
	variation int // variation selectors U+E0100–U+E01EF
	// tagText is the ASCII that tag characters spell ("ASCII smuggling"),
	// scanned for injection like any other text.
	tagText string
}

func (h hidden) any() bool { return h.zeroWidth+h.bidi+h.tags+h.variation > 0 }

// load64 reads 8 bytes of s at i, little-endian; the compiler turns it
// into one load.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// isASCII reports whether s is pure ASCII, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if load64(s, i)&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i]&0x80 != 0 {
			return false
		}
	}
	return true
}

// hasDigit8 reports whether any of the 8 bytes in x is an ASCII digit:
// x^'0' turns digits into bytes below 10, and the classic "has a byte less
// than n" test finds them (bytes >= 0x80 are excluded by the ^x term).
func hasDigit8(x uint64) bool { return digitMask8(x) != 0 }

// digitMask8 has the high bit set in the byte of x of each digit, exact
// for the lowest; higher bytes may be flagged wrongly after a borrow.
func digitMask8(x uint64) uint64 {
	t := x ^ 0x30*ones
	return (t - 10*ones) &^ t & highs
}

// normalize returns s without invisible characters and in NFKC form, so
// that rules written for ASCII see through full-width letters, ligatures
// and characters spliced in to break keywords. ASCII text, the common case,
// is returned as is without allocating. changed reports whether the result
// differs from s.
func normalize(s string) (out string, h hidden, changed bool) {
	if isASCII(s) {
		return s, h, false
	}
	var b strings.Builder
	var tags []byte
	last := 0 // s[last:i] is pending, unchanged
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		drop := true
		switch {
		case r < 0x80:
			drop = false
		case r == 0x200B, r == 0x2060, 0x2061 <= r && r <= 0x2064, r == 0xFEFF,
			r == 0x180E, r == 0x00AD, r == 0x034F, r == 0x115F, r == 0x1160,
			r == 0x3164, r == 0xFFA0:
			h.zeroWidth++
		case r == 0x200C, r == 0x200D:
			// Joiners are part of emoji sequences and of several scripts;
			// between two ASCII letters they only serve to split a word.
			if i > 0 && isASCIILetter(s[i-1]) && i+size < len(s) && isASCIILetter(s[i+size]) {
				h.zeroWidth++
			} else {
				drop = false
			}
		case 0x202A <= r && r <= 0x202E, 0x2066 <= r && r <= 0x2069,
			r == 0x200E, r == 0x200F, r == 0x061C:
			h.bidi++
		case r == 0x1F3F4:
			// A black flag followed by tag letters and a cancel tag is a
			// subdivision flag (England, Scotland, Wales): keep it.
			drop = false
			if n := flagTags(s[i+size:]); n > 0 {
				size += n
			}
		case 0xE0000 <= r && r <= 0xE007F:
			h.tags++
			if c := r - 0xE0000; 0x20 <= c && c < 0x7F {
				tags = append(tags, byte(c))
			}
		case 0xE0100 <= r && r <= 0xE01EF:
			h.variation++
		default:
			drop = false
		}
		if drop {
			if b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			last = i + size
		}
		i += size
	}
	stripped := s
	if last > 0 {
		b.WriteString(s[last:])
		stripped = b.String()
	}
	h.tagText = string(tags)
	out = norm.NFKC.String(stripped)
	return out, h, last > 0 || out != stripped
}

func isASCIILetter(b byte) bool { return 'a' <= b|0x20 && b|0x20 <= 'z' }

// flagTags returns the length of the tag sequence of a subdivision flag at
// the start of s (tag letters and digits, then U+E007F), or 0.
func flagTags(s string) int {
	n := 0
	for i := 0; i < 8; i++ {
		r, size := utf8.DecodeRuneInString(s[n:])
		switch {
		case r == 0xE007F && i >= 2:
			return n + size
		case 0xE0030 <= r && r <= 0xE0039, 0xE0061 <= r && r <= 0xE007A:
			n += size
		default:
			return 0
		}
	}
	return 0
}
