package filters

import "strings"

// phrase matches a sequence of words: each slot is a set of alternatives,
// optionally skipped, and slots are separated by whitespace. Matching is
// case-insensitive over ASCII and exact for other bytes; slots are
// separated by whitespace and , : ;. It is the cheap
// way to express "ignore [all] [the] previous instructions": a phrase that
// fails on its second word costs a few comparisons, where a regular
// expression call costs a microsecond before it looks at the text.
type phrase struct {
	slots []slot
}

type slot struct {
	words []string
	opt   bool
}

// parsePhrase reads "ignore|disregard [all|any] previous|prior instructions":
// slots separated by spaces, alternatives by |, optional slots in brackets,
// and _ for a space inside a word ("do_not_follow").
func parsePhrase(spec string) *phrase {
	p := &phrase{}
	for _, f := range strings.Fields(spec) {
		var s slot
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			s.opt, f = true, f[1:len(f)-1]
		}
		for _, w := range strings.Split(f, "|") {
			s.words = append(s.words, strings.ReplaceAll(strings.ToLower(w), "_", " "))
		}
		p.slots = append(p.slots, s)
	}
	return p
}

// matchAt returns the end of the phrase if it starts at i.
func (p *phrase) matchAt(text string, i int) (int, bool) {
	return p.match(text, i, 0)
}

// matchAnchored is matchAt at the start of a keyword anchor a: when the
// keyword is a whole word of the first slot, as it usually is, matching
// goes on after it without trying the slot's other words.
func (p *phrase) matchAnchored(text string, a Span) (int, bool) {
	if len(p.slots) > 1 && !p.slots[0].opt && a.End < len(text) && !isAlnum(text[a.End]) {
		kw := text[a.Start:a.End]
		for _, w := range p.slots[0].words {
			if len(w) == len(kw) && strings.EqualFold(w, kw) {
				j := a.End
				for j < len(text) && (isSpace(text[j]) || text[j] == ',' || text[j] == ':' || text[j] == ';') {
					j++
				}
				if j == a.End {
					return 0, false
				}
				return p.match(text, j, 1)
			}
		}
	}
	return p.match(text, a.Start, 0)
}

func (p *phrase) match(text string, i, k int) (int, bool) {
	if k == len(p.slots) {
		return i, true
	}
	s := &p.slots[k]
	for _, w := range s.words {
		e, ok := wordAt(text, i, w)
		if !ok {
			continue
		}
		if k+1 == len(p.slots) {
			return e, true
		}
		j := e
		for j < len(text) && (isSpace(text[j]) || text[j] == ',' || text[j] == ':' || text[j] == ';') {
			j++
		}
		if j > e {
			if end, ok := p.match(text, j, k+1); ok {
				return end, true
			}
		}
	}
	if s.opt {
		return p.match(text, i, k+1)
	}
	return 0, false
}

// wordAt reports whether w occurs at text[i:], folding ASCII case, followed
// by something other than a letter or digit. Inner spaces of w match any
// run of whitespace.
func wordAt(text string, i int, w string) (int, bool) {
	for k := 0; k < len(w); k++ {
		if w[k] == ' ' {
			if i >= len(text) || !isSpace(text[i]) {
				return 0, false
			}
			for i < len(text) && isSpace(text[i]) {
				i++
			}
			continue
		}
		if i >= len(text) || lowerASCII(text[i]) != w[k] {
			return 0, false
		}
		i++
	}
	if i < len(text) && isAlnum(text[i]) {
		return 0, false
	}
	return i, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// phraseFinder is a Rule.Find for phrases that start at an anchor.
type phraseFinder struct {
	phrases []*phrase
	weight  float64
}

func (f *phraseFinder) Find(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		if a.Start > 0 && isAlnum(text[a.Start-1]) {
			continue
		}
		for _, p := range f.phrases {
			if e, ok := p.matchAnchored(text, a); ok {
				dst = append(dst, Match{Start: a.Start, End: e, Confidence: f.weight})
				break
			}
		}
	}
	return dst
}

// says is an injection pattern made of phrases that start at its keywords.
func says(weight float64, keys []string, specs ...string) pattern {
	f := &phraseFinder{weight: weight}
	for _, s := range specs {
		f.phrases = append(f.phrases, parsePhrase(s))
	}
	return pattern{keys: keys, find: f.Find}
}
