package filters

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// engine runs a fixed set of rules over texts. One keyword pass selects the
// rules that can match and where; only those rules run, on windows around
// the hits. The same pass finds placeholder-like tokens already present in
// the input, so that new placeholders never collide with them.
type engine struct {
	rules  []Rule
	labels []string // distinct placeholder labels, upper case
	// ac finds the ASCII keywords, wide the others, which cannot occur
	// in ASCII text: keeping them apart halves the hot automaton.
	ac, wide *automaton
	lens     []int // pattern lengths
	pats     []patInfo
	pool     sync.Pool // *scanState
}

type patInfo struct {
	rules []int32 // rules this pattern anchors
	near  []int32 // rules this pattern is a Near keyword of
	label int32   // index into labels, or -1
}

// match is a Match and the index of the rule that made it.
type match struct {
	Match
	rule int32
}

// labelHit is an occurrence of a placeholder label in a text.
type labelHit struct {
	Span
	label int32
}

// scanState is the scratch space of one scan, pooled so that scanning text
// with nothing in it allocates nothing.
type scanState struct {
	hits    []acHit
	split   [3][]acHit
	anchors [][]Span
	near    [][]Span
	kept    []Span
	numbers []Span
	colons  []Span
	found   []Match
	matches []match
	labels  []labelHit
	whole   [1]Span
}

// newEngine compiles rules. It panics on a malformed rule, as regexp.MustCompile
// does: rules are code, not configuration.
func newEngine(rules []Rule) *engine {
	e := &engine{rules: make([]Rule, len(rules))}
	copy(e.rules, rules)
	seen := map[string]bool{}
	var patterns []string
	patIndex := map[string]int{}
	addPattern := func(p string) int {
		p = strings.ToLower(p)
		if i, ok := patIndex[p]; ok {
			return i
		}
		patIndex[p] = len(patterns)
		patterns = append(patterns, p)
		e.pats = append(e.pats, patInfo{label: -1})
		return len(patterns) - 1
	}
	labelIndex := map[string]int{}
	for i := range e.rules {
		r := &e.rules[i]
		switch {
		case r.ID == "" || seen[r.ID]:
			panic(fmt.Sprintf("filters: rule %d: missing or duplicate ID %q", i, r.ID))
		case r.Find == nil:
			panic(fmt.Sprintf("filters: rule %s: no Find", r.ID))
		case r.Type != TypeSecret && r.Type != TypePII && r.Type != TypeInjection:
			panic(fmt.Sprintf("filters: rule %s: unknown type %q", r.ID, r.Type))
		}
		seen[r.ID] = true
		if r.Anchor == AnchorKeywords && len(r.Keywords) == 0 {
			r.Anchor = AnchorText
		}
		if r.Anchor == AnchorKeywords {
			for _, k := range r.Keywords {
				if k == "" {
					panic(fmt.Sprintf("filters: rule %s: empty keyword", r.ID))
				}
				p := addPattern(k)
				if !slices.Contains(e.pats[p].rules, int32(i)) {
					e.pats[p].rules = append(e.pats[p].rules, int32(i))
				}
			}
		}
		for _, k := range r.Near {
			if k == "" {
				panic(fmt.Sprintf("filters: rule %s: empty near keyword", r.ID))
			}
			p := addPattern(k)
			if !slices.Contains(e.pats[p].near, int32(i)) {
				e.pats[p].near = append(e.pats[p].near, int32(i))
			}
		}
		if r.NearWindow <= 0 {
			r.NearWindow = 256
		}
		if r.Type == TypeInjection {
			continue
		}
		if r.Label == "" {
			r.Label = "PII"
			if r.Type == TypeSecret {
				r.Label = "SECRET"
			}
		}
		for j := 0; j < len(r.Label); j++ {
			if c := r.Label[j]; c < 'A' || c > 'Z' {
				panic(fmt.Sprintf("filters: rule %s: label %q is not upper-case ASCII letters", r.ID, r.Label))
			}
		}
		if _, ok := labelIndex[r.Label]; !ok {
			labelIndex[r.Label] = len(e.labels)
			e.labels = append(e.labels, r.Label)
			e.pats[addPattern(r.Label)].label = int32(len(e.labels) - 1)
		}
	}
	ascii, wide := make([]string, len(patterns)), make([]string, len(patterns))
	e.lens = make([]int, len(patterns))
	for i, p := range patterns {
		e.lens[i] = len(p)
		if isASCII(p) {
			ascii[i] = p
		} else {
			wide[i] = p
		}
	}
	e.ac, e.wide = newAutomaton(ascii), newAutomaton(wide)
	e.pool.New = func() any {
		return &scanState{anchors: make([][]Span, len(e.rules)), near: make([][]Span, len(e.rules))}
	}
	return e
}

func (e *engine) get() *scanState { return e.pool.Get().(*scanState) }

func (e *engine) put(st *scanState) {
	// Do not let one huge text pin huge buffers forever.
	if cap(st.hits) > 1<<16 || cap(st.found) > 1<<14 || cap(st.matches) > 1<<14 {
		return
	}
	e.pool.Put(st)
}

// scan runs the rules for which on is true over text and leaves what they
// found, unresolved, in st.matches; with labels, st.labels holds the
// placeholder labels seen. Secrets that look like documentation examples
// are dropped here, for every rule.
func (e *engine) scan(text string, on []bool, labels bool, st *scanState) {
	var ascii bool
	st.hits, ascii = e.ac.scanSplit(text, st.hits[:0], &st.split)
	mixed := false
	if n := len(st.hits); !ascii {
		st.hits = e.wide.scan(text, st.hits)
		mixed = len(st.hits) > n
	}
	for i := range st.anchors {
		st.anchors[i], st.near[i] = st.anchors[i][:0], st.near[i][:0]
	}
	st.matches, st.labels = st.matches[:0], st.labels[:0]
	nearHits := false
	for _, h := range st.hits {
		pi := &e.pats[h.pat]
		span := Span{int(h.end) - e.lens[h.pat], int(h.end)}
		for _, r := range pi.rules {
			if on[r] {
				st.anchors[r] = append(st.anchors[r], span)
			}
		}
		nearHits = nearHits || len(pi.near) > 0
		if labels && pi.label >= 0 {
			st.labels = append(st.labels, labelHit{span, pi.label})
		}
	}
	// Near keywords matter only to rules that have anchors: a second,
	// cheaper pass, as most near hits are of rules that do not.
	if nearHits {
		for _, h := range st.hits {
			for _, r := range e.pats[h.pat].near {
				if on[r] && len(st.anchors[r]) > 0 {
					st.near[r] = append(st.near[r], Span{int(h.end) - e.lens[h.pat], int(h.end)})
				}
			}
		}
	}
	if mixed {
		for i := range st.anchors {
			sortSpans(st.anchors[i])
			sortSpans(st.near[i])
		}
		slices.SortFunc(st.labels, func(a, b labelHit) int { return a.End - b.End })
	}
	numbersDone, colonsDone := false, false
	for ri := range e.rules {
		if !on[ri] {
			continue
		}
		r := &e.rules[ri]
		var anchors []Span
		switch r.Anchor {
		case AnchorKeywords:
			anchors = st.anchors[ri]
			if len(r.Near) > 0 {
				st.kept = nearAnchors(anchors, st.near[ri], r.NearWindow, st.kept[:0])
				anchors = st.kept
			}
		case AnchorNumbers:
			if !numbersDone {
				st.numbers, numbersDone = numberRuns(text, st.numbers[:0]), true
			}
			anchors = st.numbers
		case AnchorColons:
			if !colonsDone {
				st.colons, colonsDone = colonRuns(text, st.colons[:0]), true
				n := len(st.colons)
				st.colons = dashedMACs(text, st.colons)
				if len(st.colons) > n && n > 0 {
					sortSpans(st.colons)
				}
			}
			anchors = st.colons
		default:
			st.whole[0] = Span{0, len(text)}
			anchors = st.whole[:]
		}
		if len(anchors) == 0 {
			continue
		}
		st.found = r.Find(text, anchors, st.found[:0])
		for _, m := range st.found {
			if m.Start < 0 || m.End > len(text) || m.Start >= m.End {
				continue // a broken custom rule must not break redaction
			}
			if r.Type == TypeSecret && fakeSecret(text[m.Start:m.End]) {
				continue
			}
			st.matches = append(st.matches, match{m, int32(ri)})
		}
	}
}

// resolve keeps, among the secret and PII matches of st, a set that does not
// overlap, preferring secrets to personal data, then longer spans, then
// higher confidence. It returns them in text order, and the injection
// matches after them unchanged.
func (e *engine) resolve(st *scanState) (redact, inject []match) {
	ms := st.matches
	// Partition: redactable first.
	n := 0
	for i := range ms {
		if e.rules[ms[i].rule].Type != TypeInjection {
			ms[i], ms[n] = ms[n], ms[i]
			n++
		}
	}
	redact, inject = ms[:n], ms[n:]
	if len(redact) < 2 {
		return redact, inject
	}
	rank := func(m match) int {
		if e.rules[m.rule].Type == TypeSecret {
			return 1
		}
		return 0
	}
	better := func(a, b match) int {
		if d := rank(b) - rank(a); d != 0 {
			return d
		}
		if d := (b.End - b.Start) - (a.End - a.Start); d != 0 {
			return d
		}
		if a.Confidence != b.Confidence {
			if a.Confidence > b.Confidence {
				return -1
			}
			return 1
		}
		return a.Start - b.Start
	}
	// Matches only compete with those they overlap: sort by start, cut
	// the list into clusters of overlapping matches, and within each keep
	// the best greedily. Clusters are small, so this is n log n.
	slices.SortStableFunc(redact, func(a, b match) int { return a.Start - b.Start })
	kept := redact[:0:0]
	for lo := 0; lo < len(redact); {
		hi, end := lo+1, redact[lo].End
		for hi < len(redact) && redact[hi].Start < end {
			end = max(end, redact[hi].End)
			hi++
		}
		if hi-lo == 1 {
			kept = append(kept, redact[lo])
			lo = hi
			continue
		}
		cluster := redact[lo:hi]
		slices.SortStableFunc(cluster, better)
		base := len(kept)
		for _, m := range cluster {
			ok := true
			for _, k := range kept[base:] {
				if k.Start < m.End && m.Start < k.End {
					ok = false
					break
				}
			}
			if ok {
				kept = append(kept, m)
			}
		}
		slices.SortFunc(kept[base:], func(a, b match) int { return a.Start - b.Start })
		lo = hi
	}
	return kept, inject
}

// nearAnchors appends to dst the anchors that have a near hit within w
// bytes. Both lists are in ascending order of End.
func nearAnchors(anchors, near []Span, w int, dst []Span) []Span {
	j := 0
	for _, a := range anchors {
		for j < len(near) && near[j].End < a.Start-w {
			j++
		}
		// near[j:] end at or after a.Start-w; the first that starts
		// close enough after the anchor wins. Near hits end in order, and
		// keywords are short, so looking a few ahead suffices.
		for k := j; k < len(near) && near[k].Start <= a.End+w; k++ {
			if near[k].End >= a.Start-w {
				dst = append(dst, a)
				break
			}
		}
	}
	return dst
}

func sortSpans(s []Span) {
	if len(s) > 1 {
		slices.SortFunc(s, func(a, b Span) int { return a.End - b.End })
	}
}

var digitTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNumberSep(c byte) bool {
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+'
}

// numberRuns appends the runs AnchorNumbers describes.
func numberRuns(s string, dst []Span) []Span {
	const maxRun = 256
	for i := 0; i < len(s); {
		for i+8 <= len(s) {
			// The lowest flagged byte is exactly the first digit.
			if m := digitMask8(load64(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(s) && !digitTable[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		if i > 0 && isASCIILetter(s[i-1]) {
			// Digits inside a word (a hash, "utf8", "x64") are no number;
			// only the last digits of a word that ends in digits can be
			// the start of one (an IBAN's: GB82WEST1234...).
			j := i
			for j < len(s) && setAlnum[s[j]] {
				j++
			}
			if isASCIILetter(s[j-1]) {
				i = j
				continue
			}
			for j > i && isDigit(s[j-1]) {
				j--
			}
			i = j
		}
		start := i
		for k := 0; k < 2 && start > 0 && (s[start-1] == '+' || s[start-1] == '('); k++ {
			start--
		}
		digits, end := 0, i
		for i < len(s) && i-start < maxRun {
			if digitTable[s[i]] {
				digits++
				i++
				end = i
				continue
			}
			j := i
			for j < len(s) && j-i < 3 && isNumberSep(s[j]) {
				j++
			}
			if j == i || j-i > 2 || j >= len(s) || !isDigit(s[j]) {
				break
			}
			i = j
		}
		// Inside a hex hash or an identifier, or between the dashes of a
		// UUID: no number.
		glued := start > 0 && isASCIILetter(s[start-1]) && end < len(s) && isASCIILetter(s[end]) ||
			start > 1 && s[start-1] == '-' && isAlnum(s[start-2]) && end+1 < len(s) && s[end] == '-' && isAlnum(s[end+1])
		if !glued && (digits >= 4 || digits >= 2 && start >= 2 && isUpper(s[start-1]) && isUpper(s[start-2])) {
			dst = append(dst, Span{start, end})
		}
		i = max(i, end)
	}
	return dst
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func isColonRunByte(c byte) bool { return isHex(c) || c == ':' || c == '.' || c == '-' }

// colonRuns appends the runs AnchorColons describes. It jumps from colon to
// colon, which is fast on prose.
func colonRuns(s string, dst []Span) []Span {
	const maxRun = 64
	for from := 0; from < len(s); {
		k := strings.IndexByte(s[from:], ':')
		if k < 0 {
			break
		}
		c := from + k
		lo := c
		for lo > 0 && c-lo < maxRun && isColonRunByte(s[lo-1]) {
			lo--
		}
		hi, colons := c, 0
		for hi < len(s) && hi-lo < maxRun && isColonRunByte(s[hi]) {
			if s[hi] == ':' {
				colons++
			}
			hi++
		}
		if colons >= 2 {
			dst = append(dst, Span{lo, hi})
		}
		from = max(hi, c+1)
	}
	return dst
}

// dashedMACs appends the MAC addresses written with dashes
// (3c-22-fb-12-34-56), which colonRuns does not see. It jumps from dash to
// dash and checks the first dash of each run.
func dashedMACs(s string, dst []Span) []Span {
	for from := 0; from < len(s); {
		k := strings.IndexByte(s[from:], '-')
		if k < 0 {
			break
		}
		c := from + k
		from = c + 1
		lo := c - 2
		if lo < 0 || lo+17 > len(s) || s[c+3] != '-' || s[c+6] != '-' || lo > 0 && (isAlnum(s[lo-1]) || s[lo-1] == '-') {
			continue
		}
		ok := true
		for i := 0; i < 17 && ok; i++ {
			if i%3 == 2 {
				ok = s[lo+i] == '-'
			} else {
				ok = isHex(s[lo+i])
			}
		}
		if ok && (lo+17 == len(s) || !isAlnum(s[lo+17]) && s[lo+17] != '-') {
			dst = append(dst, Span{lo, lo + 17})
			from = lo + 17
		}
	}
	return dst
}
