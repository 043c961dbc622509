package filters

import (
	"regexp"
	"unicode/utf8"
)

// Finding types.
const (
	TypeSecret    = "secret"
	TypePII       = "pii"
	TypeInjection = "injection"
	TypeLink      = "link"
)

// Span is a byte range of a text.
type Span struct{ Start, End int }

// Match is a value a rule found: a byte range of the text it was given and
// how sure the rule is, from 0 to 1. For injection rules Confidence is the
// weight the match adds to the request's score.
type Match struct {
	Start, End int
	Confidence float64
}

// Anchor says where the engine lets a rule look.
type Anchor int

const (
	// AnchorKeywords passes the spans where one of the rule's Keywords
	// occurs. A rule without keywords gets AnchorText instead.
	AnchorKeywords Anchor = iota
	// AnchorNumbers passes runs of digits and the separators " -.()+" that
	// hold at least four digits, or two right after two capital letters
	// (IBAN). Phone numbers, cards and SSNs start here.
	AnchorNumbers
	// AnchorColons passes runs of hex digits, ':', '.' and '-' that hold at
	// least two colons, and six hex pairs joined by dashes: IPv6 and MAC
	// addresses.
	AnchorColons
	// AnchorText passes one span covering the whole text. Such rules cost
	// the most; keep them few.
	AnchorText
)

// Rule detects one kind of secret, personal data or injection signal. The
// engine runs a rule only where its anchor says it may match, so most rules
// never run on most text.
type Rule struct {
	// ID names the rule in findings and policies, e.g. "github-token".
	ID string
	// Type is TypeSecret, TypePII or TypeInjection.
	Type string
	// Label names the rule's placeholders, e.g. "SECRET" gives [SECRET_1].
	// Upper-case ASCII letters; defaults to "SECRET" or "PII".
	Label string
	// Keywords are matched case-insensitively over ASCII (exactly for other
	// bytes) in one pass for all rules.
	Keywords []string
	Anchor   Anchor
	// Near, if set, is a second keyword set: the rule runs only at anchors
	// that have one of these within NearWindow bytes (default 256). It lets
	// a rule key on a common word ("send") and still run rarely.
	Near       []string
	NearWindow int
	// Find appends to dst what it finds in text near anchors, which are in
	// ascending order of End. It may look outside the anchors and must be
	// safe for concurrent use.
	Find func(text string, anchors []Span, dst []Match) []Match
}

// RegexpFinder is a Rule.Find that runs a regular expression on windows
// around the anchors, merging windows that overlap; or, Anchored, only at
// the start of each anchor.
type RegexpFinder struct {
	Re *regexp.Regexp
	// Group is the submatch that holds the value; 0 means the first group
	// that took part in the match, or the whole match when none did.
	Group int
	// Before and After widen each anchor into a window; they default to 32
	// and 256 bytes. A match that reaches the end of a window is retried on
	// a wider one, so After only needs to be a typical length.
	Before, After int
	// Anchored tries the expression only where an anchor starts, on After
	// bytes, and not inside a word (a letter or digit on both sides of the
	// start): the fast choice when the keyword begins the match. Re should then start with \A so that it
	// fails fast.
	Anchored bool
	// Confidence defaults to 0.9.
	Confidence float64
	// Validate, if set, rejects values for which it returns false; it sees
	// the whole match too, for rules that need the context of the value.
	Validate func(match, value string) bool
}

// Find implements Rule.Find.
func (f *RegexpFinder) Find(text string, anchors []Span, dst []Match) []Match {
	before, after := f.Before, f.After
	if before <= 0 {
		before = 32
	}
	if after <= 0 {
		after = 256
	}
	if f.Anchored {
		done := 0
		for _, a := range anchors {
			if a.Start < done || a.Start > 0 && isAlnum(text[a.Start-1]) && isAlnum(text[a.Start]) {
				continue
			}
			n := len(dst)
			dst = f.window(text, a.Start, min(len(text), a.End+after), after, dst)
			if len(dst) > n {
				done = dst[len(dst)-1].End
			}
		}
		return dst
	}
	lo, hi := -1, -1
	for _, a := range anchors {
		wlo, whi := max(0, a.Start-before), min(len(text), a.End+after)
		if lo >= 0 && wlo <= hi {
			lo, hi = min(lo, wlo), max(hi, whi)
			continue
		}
		if lo >= 0 {
			dst = f.window(text, lo, hi, after, dst)
		}
		lo, hi = wlo, whi
	}
	if lo >= 0 {
		dst = f.window(text, lo, hi, after, dst)
	}
	return dst
}

func (f *RegexpFinder) window(text string, lo, hi, grow int, dst []Match) []Match {
	for lo > 0 && !utf8.RuneStart(text[lo]) {
		lo--
	}
	var ms [][]int
	for try := 0; ; try++ {
		for hi < len(text) && !utf8.RuneStart(text[hi]) {
			hi++
		}
		ms = f.Re.FindAllStringSubmatchIndex(text[lo:hi], -1)
		if len(ms) == 0 || ms[len(ms)-1][1] < hi-lo || hi == len(text) || try == 4 {
			break
		}
		grow *= 2
		hi = min(len(text), hi+grow)
	}
	conf := f.Confidence
	if conf == 0 {
		conf = 0.9
	}
	for _, m := range ms {
		s, e := m[0], m[1]
		if g := f.Group; g > 0 && 2*g+1 < len(m) {
			s, e = m[2*g], m[2*g+1]
		} else if g == 0 {
			for i := 2; i+1 < len(m); i += 2 {
				if m[i] >= 0 {
					s, e = m[i], m[i+1]
					break
				}
			}
		}
		if s < 0 || s >= e {
			continue
		}
		if f.Validate != nil && !f.Validate(text[lo+m[0]:lo+m[1]], text[lo+s:lo+e]) {
			continue
		}
		dst = append(dst, Match{Start: lo + s, End: lo + e, Confidence: conf})
	}
	return dst
}
