package filters

import (
	"math"
	"regexp"
	"slices"
	"strings"
)

// This file holds the building blocks of the secret rules: byte sets, the
// finders for prefixed tokens, for structured tokens and for values
// assigned to a key that names a service, and the gates that tell a
// credential from a placeholder.

// Byte sets for token bodies.
var (
	setAlnum       = byteSet("A-Za-z0-9")
	setAlnumU      = byteSet("A-Za-z0-9_")
	setLowerNum    = byteSet("a-z0-9")
	setB64URL      = byteSet("A-Za-z0-9_-")
	setB64URLEq    = byteSet("A-Za-z0-9_=-")
	setB64Std      = byteSet("A-Za-z0-9+/=_")
	setUpperNum    = byteSet("A-Z0-9")
	setHexLower    = byteSet("a-f0-9")
	setHex         = byteSet("a-fA-F0-9")
	setHexDash     = byteSet("a-f0-9-")
	setAlnumDash   = byteSet("A-Za-z0-9-")
	setAlnumDot    = byteSet("A-Za-z0-9_.-")
	setAlnumPeriod = byteSet("A-Za-z0-9.")
	setBech32      = byteSet("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")
)

// byteSet builds a set from characters and a-z style ranges.
func byteSet(spec string) *[256]bool {
	var t [256]bool
	for i := 0; i < len(spec); i++ {
		if i+2 < len(spec) && spec[i+1] == '-' {
			for c := int(spec[i]); c <= int(spec[i+2]); c++ {
				t[c] = true
			}
			i += 2
			continue
		}
		t[spec[i]] = true
	}
	return &t
}

func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'z' }

// tokenFinder finds tokens made of a case-sensitive prefix (the rule's
// keywords) and a body drawn from one byte set, the shape of most modern
// API keys. It needs no regular expression.
type tokenFinder struct {
	prefixes []string
	body     *[256]bool
	min, max int
	conf     float64
	valid    func(tok string) bool
}

func (f *tokenFinder) Find(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		s, i := a.Start, a.End
		if !f.hasPrefix(text[s:i]) || s > 0 && isAlnum(text[s-1]) {
			continue
		}
		j := i
		for j < len(text) && j-i <= f.max && f.body[text[j]] {
			j++
		}
		if n := j - i; n < f.min || n > f.max || j < len(text) && isAlnum(text[j]) {
			continue
		}
		if f.valid != nil && !f.valid(text[s:j]) {
			continue
		}
		dst = append(dst, Match{Start: s, End: j, Confidence: f.conf})
	}
	return dst
}

func (f *tokenFinder) hasPrefix(s string) bool {
	for _, p := range f.prefixes {
		if s == p {
			return true
		}
	}
	return false
}

func tokenRule(id string, prefixes []string, body *[256]bool, min, max int, conf float64, valid func(string) bool) Rule {
	f := &tokenFinder{prefixes: prefixes, body: body, min: min, max: max, conf: conf, valid: valid}
	return Rule{ID: id, Type: TypeSecret, Label: "SECRET", Keywords: prefixes, Find: f.Find}
}

func regexpRule(id string, keywords []string, f *RegexpFinder) Rule {
	return Rule{ID: id, Type: TypeSecret, Label: "SECRET", Keywords: keywords, Find: f.Find}
}

// shapeFinder finds tokens that start at one of the rule's keywords and
// match an expression from there, for tokens with an inner structure
// ("dt0c01." 24 "." 64). The expression starts with \A; its first group,
// if any, is the secret.
type shapeFinder struct {
	re    *regexp.Regexp
	max   int // longest match looked for
	conf  float64
	valid func(tok string) bool
}

func (f *shapeFinder) Find(text string, anchors []Span, dst []Match) []Match {
	done := 0
	for _, a := range anchors {
		s := a.Start
		if s < done || s > 0 && isWord(text[s-1]) {
			continue
		}
		m := f.re.FindStringSubmatchIndex(text[s:min(len(text), s+f.max)])
		if m == nil {
			continue
		}
		if e := s + m[1]; e < len(text) && isWord(text[e]) {
			continue // the token goes on: not this shape
		}
		vs, ve := s+m[0], s+m[1]
		if len(m) >= 4 && m[2] >= 0 {
			vs, ve = s+m[2], s+m[3]
		}
		if f.valid != nil && !f.valid(text[vs:ve]) {
			continue
		}
		dst = append(dst, Match{Start: vs, End: ve, Confidence: f.conf})
		done = ve
	}
	return dst
}

// shapeRule is a rule for tokens that start with one of prefixes (matched
// case-insensitively by the engine) and match expr, which must start with
// \A, within max bytes.
func shapeRule(id string, prefixes []string, expr string, max int, conf float64, valid func(string) bool) Rule {
	f := &shapeFinder{re: regexp.MustCompile(expr), max: max, conf: conf, valid: valid}
	return Rule{ID: id, Type: TypeSecret, Label: "SECRET", Keywords: prefixes, Find: f.Find}
}

// keyedFinder finds values assigned to a key that names a service, such as
// TWITTER_API_SECRET = "...": the rule's keywords are the service's names,
// anywhere in the key, and re says what the value looks like.
type keyedFinder struct {
	re         *regexp.Regexp // \A-anchored
	prefix     string         // literal the value starts with, if any
	minEntropy float64
	conf       float64
	// spellings, if set, are the only spellings of the name accepted
	// ("Etsy" but not the "etSy" of "SetSysctl").
	spellings []string
}

func (f *keyedFinder) Find(text string, anchors []Span, dst []Match) []Match {
	done := 0
	for _, a := range anchors {
		if a.Start < done || f.spellings != nil && !slices.Contains(f.spellings, text[a.Start:a.End]) {
			continue
		}
		vs, ok := assignedValue(text, a.End)
		if !ok || !strings.HasPrefix(text[vs:], f.prefix) {
			continue
		}
		m := f.re.FindStringIndex(text[vs:min(len(text), vs+maxKeyedValue)])
		if m == nil {
			continue
		}
		ve := vs + m[1]
		if !valueEnds(text, ve) || f.minEntropy > 0 && entropy(text[vs:ve]) < f.minEntropy {
			continue
		}
		dst = append(dst, Match{Start: vs, End: ve, Confidence: f.conf})
		done = ve
	}
	return dst
}

const maxKeyedValue = 1024

// keyedRule is a rule for a value shaped like valueExpr (a regular
// expression without anchors) assigned to a key that holds one of names.
func keyedRule(id string, names []string, valueExpr string, minEntropy float64) Rule {
	f := newKeyedFinder(valueExpr, minEntropy)
	return Rule{ID: id, Type: TypeSecret, Label: "SECRET", Keywords: names, Find: f.Find}
}

func newKeyedFinder(valueExpr string, minEntropy float64) *keyedFinder {
	prefix, _ := regexp.MustCompile(valueExpr).LiteralPrefix()
	return &keyedFinder{re: regexp.MustCompile(`\A(?:` + valueExpr + `)`), prefix: prefix, minEntropy: minEntropy, conf: 0.8}
}

// keyedRuleExact is keyedRule for names that only count in the given
// spellings, matched exactly.
func keyedRuleExact(id string, spellings []string, valueExpr string, minEntropy float64) Rule {
	r := keyedRule(id, spellings, valueExpr, minEntropy)
	f := newKeyedFinder(valueExpr, minEntropy)
	f.spellings = spellings
	r.Find = f.Find
	return r
}

// assignedValue returns where a value starts if the key around a keyword
// that ends at i is assigned one: the rest of the key (up to 20 bytes of
// letters, digits, "_.-" and blanks), up to three closing quotes or
// spaces, an operator (= : := ::= => ?= || , >) and up to five opening
// quotes, spaces or "=". It is gitleaks' grammar for key = value, so that
// the two agree on what is assigned.
func assignedValue(text string, i int) (int, bool) {
	n := len(text)
	j := i
	for j < n && j-i < 20 && (isWord(text[j]) || text[j] == '.' || text[j] == '-' || text[j] == ' ' || text[j] == '\t') {
		j++
	}
	for k := 0; k < 3 && j < n && (isSpaceAny(text[j]) || text[j] == '"' || text[j] == '\''); k++ {
		j++
	}
	if j >= n {
		return 0, false
	}
	switch rest := text[j:]; {
	case strings.HasPrefix(rest, ":::="):
		j += 4
	case strings.HasPrefix(rest, "::="):
		j += 3
	case strings.HasPrefix(rest, ":="), strings.HasPrefix(rest, "=>"), strings.HasPrefix(rest, "?="), strings.HasPrefix(rest, "||"):
		j += 2
	case rest[0] == '=' || rest[0] == ':' || rest[0] == ',' || rest[0] == '>':
		j++
	default:
		return 0, false
	}
	for k := 0; k < 5 && j < n && (isSpaceAny(text[j]) || text[j] == '"' || text[j] == '\'' || text[j] == '`' || text[j] == '='); k++ {
		j++
	}
	return j, j < n
}

func isSpaceAny(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// valueEnds reports whether a value may end at e: at the end of the text,
// a quote, a blank, a separator, or an escaped line break.
func valueEnds(text string, e int) bool {
	if e >= len(text) {
		return true
	}
	switch c := text[e]; c {
	case '"', '\'', '`', ';', ',', ')', ']', '}', '<', '&':
		return true
	case '\\':
		return e+1 < len(text) && (text[e+1] == 'n' || text[e+1] == 'r')
	default:
		return isSpaceAny(c)
	}
}

// combine runs several finders on the same anchors, for rules whose
// tokens come in several shapes.
func combine(fs ...func(string, []Span, []Match) []Match) func(string, []Span, []Match) []Match {
	return func(text string, anchors []Span, dst []Match) []Match {
		for _, f := range fs {
			dst = f(text, anchors, dst)
		}
		return dst
	}
}

func mixedCase(s string) bool {
	var up, low, dig bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		up = up || isUpper(c)
		low = low || 'a' <= c && c <= 'z'
		dig = dig || isDigit(c)
	}
	return up && low && dig
}

// minEntropy returns a validator that wants at least h bits per byte.
func minEntropy(h float64) func(string) bool {
	return func(s string) bool { return entropy(s) >= h }
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	if len(s) > 255 {
		return entropyLong(s)
	}
	var counts [256]uint8
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	// H = log2(n) - (1/n) Σ c·log2(c), with c·log2(c) from a table.
	sum := 0.0
	for _, c := range counts {
		sum += cLog2c[c]
	}
	n := float64(len(s))
	return math.Log2(n) - sum/n
}

func entropyLong(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// cLog2c[c] is c·log2(c).
var cLog2c = func() (t [256]float64) {
	for c := 2; c < 256; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return t
}()

// fakeSecret reports whether a matched secret is a documentation example
// or a placeholder rather than a credential, for every secret rule.
func fakeSecret(v string) bool {
	if len(v) >= 20 {
		distinct, seen := 0, [256]bool{}
		for i := 0; i < len(v); i++ {
			if !seen[v[i]] {
				seen[v[i]] = true
				distinct++
			}
		}
		if distinct < 8 {
			return true
		}
	}
	return fakeMarkerSet.contains(v)
}

// fakeMarkers are what documentation examples and placeholders hold,
// matched ignoring case.
var fakeMarkers = []string{
	"example", "xxxx", "****", "....", "placeholder", "redacted", "changeme", "change_me",
	"dummy", "your_", "your-", "<your", "${", "{{", "sk_test_4ec39hqlyjwdarjtt1zdp7dc",
}

var fakeMarkerSet = newAutomaton(fakeMarkers)

// placeholderValue reports whether a password or similar value is a
// template, a variable or a word that stands for one.
func placeholderValue(v string) bool {
	if v == "" || strings.ContainsAny(v[:1], "$<{%[*") || fakeSecret(v) {
		return true
	}
	switch strings.ToLower(v) {
	case "password", "passwd", "pass", "pwd", "secret", "token", "user", "username",
		"null", "none", "nil", "true", "false", "undefined", "required", "optional",
		"string", "str", "integer", "int", "boolean", "bool", "text", "empty", "hidden",
		"mypassword", "yourpassword", "supersecret", "foobar", "test", "testing":
		return true
	}
	return false
}
