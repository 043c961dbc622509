package filters

import (
	"strconv"
	"strings"
)

func isOpener(c byte) bool { return c == '[' || c == '<' || c == '{' || c == '(' }
func isCloser(c byte) bool { return c == ']' || c == '>' || c == '}' || c == ')' }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }

// parseToken parses a placeholder-like token around an occurrence of label
// (matched case-insensitively) at [ls, le) of text. It tolerates what
// models do to placeholders:
//
//   - brackets of any kind, [ ] < > { } ( ), or none: [EMAIL_1], <EMAIL_1>, EMAIL_1;
//   - any case and up to two spaces inside brackets: [ email_1 ];
//   - "_", "-", " " or, inside brackets, nothing between label and number;
//   - markdown escapes: \[EMAIL\_1\].
//
// Without a pair of brackets the label must be upper case and stand alone,
// so that identifiers such as email_1 in code are not taken for one. The
// span covers what restoring replaces.
func parseToken(text string, ls, le int, label string) (phKey, Span, bool) {
	n := len(text)
	// Number: separator, then 1 to 6 digits without a leading zero.
	p, sepOK, escaped := le, true, false
	switch {
	case p < n && (text[p] == '_' || text[p] == '-' || text[p] == ' '):
		p++
	case p+1 < n && text[p] == '\\' && text[p+1] == '_':
		p += 2
		escaped = true
	default:
		sepOK = false
	}
	q := p
	for q < n && isDigit(text[q]) && q-p <= 6 {
		q++
	}
	if q == p || q-p > 6 || text[p] == '0' {
		return phKey{}, Span{}, false
	}
	num, _ := strconv.Atoi(text[p:q])
	k := phKey{label, num}

	// A pair of brackets, each with up to two spaces inside.
	o := ls
	for o > 0 && ls-o < 2 && text[o-1] == ' ' {
		o--
	}
	c := q
	for c < n && c-q < 2 && text[c] == ' ' {
		c++
	}
	if o > 0 && isOpener(text[o-1]) {
		switch {
		case c < n && isCloser(text[c]):
			return k, Span{o - 1, c + 1}, true
		case c+1 < n && text[c] == '\\' && isCloser(text[c+1]):
			start := o - 1
			if start > 0 && text[start-1] == '\\' {
				start--
			}
			return k, Span{start, c + 2}, true
		}
	}

	// Bare.
	if !sepOK || escaped || text[ls:le] != label ||
		ls > 0 && isWord(text[ls-1]) || q < n && isWord(text[q]) {
		return phKey{}, Span{}, false
	}
	return k, Span{ls, q}, true
}

// restore replaces the placeholders of this session in text by their
// values and appends to spans where the values now are. Placeholders of
// other sessions, unknown ones and ambiguous ones are left as they are.
func (ss *Session) restore(text string, spans []Span) (string, []Span) {
	if len(ss.vault) == 0 {
		return text, spans
	}
	labels := ss.s.eng.labels
	hits := ss.s.labels.scan(text, nil)
	var b strings.Builder
	last := 0
	for _, h := range hits {
		le := int(h.end)
		ls := le - len(labels[h.pat])
		if ls < last {
			continue
		}
		k, sp, ok := parseToken(text, ls, le, labels[h.pat])
		if !ok || sp.Start < last || ss.ambiguous[k] {
			continue
		}
		v, ok := ss.vault[k]
		if !ok {
			continue
		}
		b.WriteString(text[last:sp.Start])
		spans = append(spans, Span{b.Len(), b.Len() + len(v)})
		b.WriteString(v)
		last = sp.End
	}
	if last == 0 {
		return text, spans
	}
	b.WriteString(text[last:])
	return b.String(), spans
}
