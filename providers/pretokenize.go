package providers

import (
	"unicode"
	"unicode/utf8"
)

// The splitters below cut text into the pieces that OpenAI's encodings
// byte-pair encode one by one. Each is a hand-written equivalent of the
// encoding's pre-tokenization regex as tiktoken-go runs it (regexp2, a
// backtracking engine with leftmost-first alternation), so the pieces are
// exactly the regex matches. The regexes are quoted above each splitter;
// every match is non-empty and matches tile the text, so a splitter only
// has to say where the piece starting at s[i] ends.
//
// The splitters expect valid UTF-8: Count replaces invalid bytes first, the
// way tiktoken-go does.

// Character classes, as a bit set per rune.
const (
	cLetter  = 1 << iota // \p{L}
	cNumber              // \p{N}
	cSpace               // \s, which regexp2 defines as unicode.IsSpace
	cNewline             // \r or \n
	cUpper               // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], o200k_base's "upper"
	cLower               // [\p{Ll}\p{Lm}\p{Lo}\p{M}], o200k_base's "lower"
)

// classify returns the classes of r. Unicode's general categories are
// disjoint, so at most one of letter, mark, number and space applies.
func classify(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		switch {
		case unicode.Is(unicode.Ll, r):
			return cLetter | cLower
		case unicode.Is(unicode.Lu, r) || unicode.Is(unicode.Lt, r):
			return cLetter | cUpper
		}
		return cLetter | cUpper | cLower // Lm or Lo
	case unicode.Is(unicode.M, r):
		return cUpper | cLower
	case unicode.IsNumber(r):
		return cNumber
	case unicode.IsSpace(r):
		if r == '\r' || r == '\n' {
			return cSpace | cNewline
		}
		return cSpace
	}
	return 0
}

// runeClasses is classify for the Basic Multilingual Plane, as a table:
// the unicode package's binary searches cost more than the rest of the
// splitting. Text from other planes, mostly emoji, uses classify.
type runeClasses [1 << 16]uint8

func newRuneClasses() *runeClasses {
	t := new(runeClasses)
	for r := range t {
		t[r] = classify(rune(r))
	}
	return t
}

// at returns the classes and the width of the rune at s[i]. It is small
// enough to inline; the loops below inline an ASCII test of their own.
func (t *runeClasses) at(s string, i int) (uint8, int) {
	if b := s[i]; b < utf8.RuneSelf {
		return t[b], 1
	}
	return t.atRune(s[i:])
}

func (t *runeClasses) atRune(s string) (uint8, int) {
	r, n := utf8.DecodeRuneInString(s)
	if r < rune(len(t)) {
		return t[r], n
	}
	return classify(r), n
}

// scanAny returns the end of the run of runes from s[i] that have any of
// the classes in set.
func (t *runeClasses) scanAny(s string, i int, set uint8) int {
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf {
			if t[b]&set == 0 {
				break
			}
			i++
			continue
		}
		c, n := t.atRune(s[i:])
		if c&set == 0 {
			break
		}
		i += n
	}
	return i
}

// scanNone returns the end of the run of runes from s[i] that have none of
// the classes in set.
func (t *runeClasses) scanNone(s string, i int, set uint8) int {
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf {
			if t[b]&set != 0 {
				break
			}
			i++
			continue
		}
		c, n := t.atRune(s[i:])
		if c&set != 0 {
			break
		}
		i += n
	}
	return i
}

// scanBytes returns the end of the run of bytes from s[i] that are a or b
// or c.
func scanBytes(s string, i int, a, b, c byte) int {
	for i < len(s) && (s[i] == a || s[i] == b || s[i] == c) {
		i++
	}
	return i
}

// contractionEnd returns the end of (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i],
// or i if there is none. regexp2 folds case with unicode.ToLower, and the
// only runes that lower to these letters are ASCII.
func contractionEnd(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return i
	}
	switch s[i+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(s) && s[i+2]|0x20 == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2]|0x20 == 'l' {
			return i + 3
		}
	}
	return i
}

// spaceEnd ends the piece at s[i], a whitespace rune, by the regexes'
// common tail:
//
//	\s*[\r\n]+|\s+(?!\S)|\s+
//
// The first takes the run up to its last newline; the second the whole run
// if it ends the text, else all but its last rune, which goes with what
// follows (" word"); the third a lone space before a non-space. Without
// newlines (the legacy pattern has no \s*[\r\n]+), only the last two apply.
func (t *runeClasses) spaceEnd(s string, i int, newlines bool) int {
	e, last, afterNL := i, i, -1
	for e < len(s) {
		c, n := t.at(s, e)
		if c&cSpace == 0 {
			break
		}
		if c&cNewline != 0 {
			afterNL = e + n
		}
		last = e
		e += n
	}
	switch {
	case newlines && afterNL >= 0:
		return afterNL
	case e == len(s) || last == i:
		return e
	}
	return last
}

// numberEnd returns the end of \p{N}{1,3} given the end i of its first rune.
func (t *runeClasses) numberEnd(s string, i int) int {
	for k := 1; k < 3 && i < len(s); k++ {
		c, n := t.at(s, i)
		if c&cNumber == 0 {
			break
		}
		i += n
	}
	return i
}

// punctEnd returns the end of " ?[^\s\p{L}\p{N}]+[\r\n]*" at s[i], or i if
// it does not match there. o200k_base also takes slashes after the
// newlines; it passes extra '/', cl100k_base '\n' again.
func (t *runeClasses) punctEnd(s string, i int, extra byte) int {
	j := i
	if s[i] == ' ' {
		j++ // a space is \s, so without the optional one there is no match
	}
	if j < len(s) {
		if c, n := t.at(s, j); c&(cSpace|cLetter|cNumber) == 0 {
			e := t.scanNone(s, j+n, cSpace|cLetter|cNumber)
			return scanBytes(s, e, '\r', '\n', extra)
		}
	}
	return i
}

// splitCL100K returns the end of the cl100k_base piece starting at s[i]:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func (t *runeClasses) splitCL100K(s string, i int) int {
	if e := contractionEnd(s, i); e > i {
		return e
	}
	c, n := t.at(s, i)
	if c&cLetter != 0 {
		return t.scanAny(s, i+n, cLetter)
	}
	if c&(cNumber|cNewline) == 0 && i+n < len(s) {
		if c2, n2 := t.at(s, i+n); c2&cLetter != 0 {
			return t.scanAny(s, i+n+n2, cLetter)
		}
	}
	if c&cNumber != 0 {
		return t.numberEnd(s, i+n)
	}
	if e := t.punctEnd(s, i, '\n'); e > i {
		return e
	}
	return t.spaceEnd(s, i, true)
}

// splitO200K returns the end of the o200k_base piece starting at s[i]:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	|\p{N}{1,3}
//	| ?[^\s\p{L}\p{N}]+[\r\n/]*
//	|\s*[\r\n]+
//	|\s+(?!\S)
//	|\s+
//
// Marks are in both letter classes and may also be the optional prefix,
// so each alternative is tried with the prefix and then without it, as the
// backtracking engine does.
func (t *runeClasses) splitO200K(s string, i int) int {
	c, n := t.at(s, i)
	prefix := c&(cLetter|cNumber|cNewline) == 0
	if prefix {
		if e := t.upperLowerEnd(s, i+n); e >= 0 {
			return contractionEnd(s, e)
		}
	}
	if e := t.upperLowerEnd(s, i); e >= 0 {
		return contractionEnd(s, e)
	}
	if prefix && i+n < len(s) {
		if c2, n2 := t.at(s, i+n); c2&cUpper != 0 {
			e := t.scanAny(s, i+n+n2, cUpper)
			return contractionEnd(s, t.scanAny(s, e, cLower))
		}
	}
	if c&cUpper != 0 {
		e := t.scanAny(s, i+n, cUpper)
		return contractionEnd(s, t.scanAny(s, e, cLower))
	}
	if c&cNumber != 0 {
		return t.numberEnd(s, i+n)
	}
	if e := t.punctEnd(s, i, '/'); e > i {
		return e
	}
	return t.spaceEnd(s, i, true)
}

// upperLowerEnd returns the end of "[upper]*[lower]+" at s[i], or -1. The
// greedy upper run may have to give back runes for the lower run: the
// match ends after the last rune of the upper run that is also lower, or
// extends over the lower run that follows the upper run.
func (t *runeClasses) upperLowerEnd(s string, i int) int {
	lastLower := -1
	for i < len(s) {
		var c uint8
		n := 1
		if b := s[i]; b < utf8.RuneSelf {
			c = t[b]
		} else {
			c, n = t.atRune(s[i:])
		}
		if c&cUpper == 0 {
			if c&cLower != 0 {
				return t.scanAny(s, i+n, cLower)
			}
			break
		}
		i += n
		if c&cLower != 0 {
			lastLower = i
		}
	}
	return lastLower
}

// splitLegacy returns the end of the piece starting at s[i] for r50k_base
// and p50k_base (GPT-2 and GPT-3):
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func (t *runeClasses) splitLegacy(s string, i int) int {
	if s[i] == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	j := i
	if s[i] == ' ' && i+1 < len(s) {
		j++
	}
	c, n := t.at(s, j)
	switch {
	case c&cLetter != 0:
		return t.scanAny(s, j+n, cLetter)
	case c&cNumber != 0:
		return t.scanAny(s, j+n, cNumber)
	case c&cSpace == 0:
		return t.scanNone(s, j+n, cSpace|cLetter|cNumber)
	}
	return t.spaceEnd(s, i, false)
}
