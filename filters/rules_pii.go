package filters

import "strings"

// PIIRules returns the built-in personal-data rules.
func PIIRules() []Rule {
	return []Rule{
		{ID: "email", Type: TypePII, Label: "EMAIL", Keywords: []string{"@"}, Find: findEmail},
		{ID: "phone", Type: TypePII, Label: "PHONE", Anchor: AnchorNumbers, Find: findPhone},
		{ID: "payment-card", Type: TypePII, Label: "CARD", Anchor: AnchorNumbers, Find: findCard},
		{ID: "iban", Type: TypePII, Label: "IBAN", Anchor: AnchorNumbers, Find: findIBAN},
		{ID: "us-ssn", Type: TypePII, Label: "SSN", Anchor: AnchorNumbers, Find: findSSN},
		{ID: "ipv4", Type: TypePII, Label: "IP", Anchor: AnchorNumbers, Find: findIPv4},
		{ID: "ipv6", Type: TypePII, Label: "IP", Anchor: AnchorColons, Find: findIPv6},
		{ID: "mac-address", Type: TypePII, Label: "MAC", Anchor: AnchorColons, Find: findMAC},
	}
}

var (
	emailLocal  = byteSet("A-Za-z0-9._%+-")
	emailDomain = byteSet("A-Za-z0-9.-")
)

func findEmail(text string, anchors []Span, dst []Match) []Match {
	last := 0
	for _, a := range anchors {
		at := a.Start
		if at < last {
			continue
		}
		s := at
		for s > last && at-s < 64 && emailLocal[text[s-1]] {
			s--
		}
		for s < at && text[s] == '.' {
			s++
		}
		if s == at || text[at-1] == '.' || text[s:at] == "git" {
			continue
		}
		e, dot := at+1, -1
		for e < len(text) && e-at <= 253 && emailDomain[text[e]] {
			e++
		}
		for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
			e--
		}
		dot = strings.LastIndexByte(text[at+1:e], '.')
		if dot <= 0 || text[at+1] == '-' || strings.Contains(text[at+1:e], "..") {
			continue
		}
		tld := text[at+1+dot+1 : e]
		if len(tld) < 2 || !allLetters(tld) || imageExt(tld) {
			continue
		}
		dst = append(dst, Match{Start: s, End: e, Confidence: 0.95})
		last = e
	}
	return dst
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func imageExt(tld string) bool {
	switch strings.ToLower(tld) {
	case "png", "jpg", "jpeg", "gif", "svg", "webp":
		return true
	}
	return false
}

// containsFold reports whether hay holds needle, which is lower case,
// ignoring ASCII case in hay.
func containsFold(hay, needle string) bool {
	for i := 0; i+len(needle) <= len(hay); i++ {
		j := 0
		for j < len(needle) && lowerASCII(hay[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

// contextBefore reports whether one of words occurs in the 48 bytes before
// offset s.
// contextBefore reports whether one of the words of set occurs in the 48
// bytes before offset s. A placeholder ([PHONE_1]) is no context word, or
// rescanning sanitized text would find what its neighbour only looks like.
//
// The window stops at a placeholder ("[PHONE_1]"): a value replaced there
// changed the distances, and looking past it could find a context word
// that was out of reach in the original text, so that scanning sanitized
// text again would find more than the first scan did.
func contextBefore(text string, s int, set *automaton) bool {
	return set.containsWord(afterPlaceholder(text[max(0, s-48):s]))
}

// contextAfter is contextBefore for the 16 bytes after offset e.
func contextAfter(text string, e int, set *automaton) bool {
	return set.containsWord(beforePlaceholder(text[e:min(len(text), e+16)]))
}

// afterPlaceholder returns w after its last placeholder, or w.
func afterPlaceholder(w string) string {
	for end := len(w); end > 0; {
		i := strings.LastIndexByte(w[:end], ']')
		if i < 0 {
			break
		}
		if j := strings.LastIndexByte(w[:i], '['); j >= 0 && isPlaceholderName(w[j+1:i]) {
			return w[i+1:]
		}
		end = i
	}
	return w
}

// beforePlaceholder returns w before its first placeholder, or w. A
// placeholder cut off by the end of w still counts.
func beforePlaceholder(w string) string {
	for start := 0; start < len(w); {
		j := strings.IndexByte(w[start:], '[')
		if j < 0 {
			break
		}
		j += start
		name := w[j+1:]
		if i := strings.IndexByte(name, ']'); i >= 0 {
			name = name[:i]
		}
		if name != "" && isPlaceholderPrefix(name) {
			return w[:j]
		}
		start = j + 1
	}
	return w
}

// isPlaceholderName reports whether s is LABEL_N, as phKey writes it.
func isPlaceholderName(s string) bool {
	u := strings.LastIndexByte(s, '_')
	if u <= 0 || u == len(s)-1 {
		return false
	}
	for i := u + 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return isPlaceholderPrefix(s[:u])
}

// isPlaceholderPrefix reports whether s could begin a placeholder's name:
// capital letters, digits and underscores, starting with a letter.
func isPlaceholderPrefix(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || isDigit(c) || c == '_') {
			return false
		}
	}
	return true
}

var (
	// phoneWords before a number, phoneAfter after it, make it a phone
	// number: the words people write next to one.
	phoneWords = []string{"phone", "tel", "mobile", "cell", "call", "fax", "contact", "whatsapp", "sms", "text me",
		"reach", "number", "mob", "desk", "office", "dial", "ring", "answer", "messag", "voicemail", "hotline",
		"helpline", "téléphone", "telefon", "teléfono", "电话"}
	phoneAfter = []string{"office", "fax", "mobile", "cell", "home", "work", "phone", "tel", "ext"}
	cardWords  = []string{"card", "credit", "debit", "visa", "mastercard", "amex", "maestro", "jcb", "cc", "payment"}
	ssnWords   = []string{"ssn", "social security", "social-security", "ss#", "ss #", "taxpayer"}

	phoneWordSet  = newAutomaton(phoneWords)
	phoneAfterSet = newAutomaton(phoneAfter)
	cardWordSet   = newAutomaton(cardWords)
	ssnWordSet    = newAutomaton(ssnWords)
)

// wordBefore is contextBefore for words that must start a word: "ver"
// but not the end of "server".
func wordBefore(text string, s int, words []string) bool {
	lo := max(0, s-48)
	hay := text[lo:s]
	for _, w := range words {
		for i := 0; i+len(w) <= len(hay); i++ {
			if (i > 0 || lo > 0) && isASCIILetter(text[lo+i-1]) {
				continue
			}
			if strings.EqualFold(hay[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

// group is a run of digits inside a number run.
type group struct{ start, end int }

func (g group) len() int { return g.end - g.start }

// digitGroups splits a number run into its groups of digits.
func digitGroups(text string, r Span, dst []group) []group {
	for i := r.Start; i < r.End; {
		for i < r.End && !isDigit(text[i]) {
			i++
		}
		s := i
		for i < r.End && isDigit(text[i]) {
			i++
		}
		if i > s {
			dst = append(dst, group{s, i})
		}
	}
	return dst
}

// sep returns what separates groups g[i-1] and g[i].
func sep(text string, gs []group, i int) string { return text[gs[i-1].end:gs[i].start] }

// clearBefore and clearAfter report whether a value at [s, e) is not glued
// to a word or a longer number.
func clearBefore(text string, s int) bool {
	return s == 0 || !(isAlnum(text[s-1]) || text[s-1] == '_' || text[s-1] == '.' || text[s-1] == '/')
}

func clearAfter(text string, e int) bool {
	return e == len(text) || !(isAlnum(text[e]) || text[e] == '_' || text[e] == '/' ||
		text[e] == '.' && e+1 < len(text) && isDigit(text[e+1]))
}

func findPhone(text string, anchors []Span, dst []Match) []Match {
	var buf [16]group
	for _, r := range anchors {
		gs := digitGroups(text, r, buf[:0])
		for i := 0; i < len(gs); {
			n, conf := phoneAt(text, gs, i)
			if n == 0 {
				i++
				continue
			}
			s, e := gs[i].start, gs[i+n-1].end
			for k := 0; k < 2 && s > r.Start && (text[s-1] == '(' || text[s-1] == '+'); k++ {
				s--
			}
			e = phoneExtension(text, e)
			if !clearBefore(text, s) || !clearAfter(text, e) {
				i++
				continue
			}
			if contextBefore(text, s, phoneWordSet) || contextAfter(text, e, phoneAfterSet) {
				conf = min(0.95, conf+0.25)
			} else if conf < 0.5 {
				i += n
				continue
			}
			dst = append(dst, Match{Start: s, End: e, Confidence: conf})
			i += n
		}
	}
	return dst
}

// phoneExtension returns the end of an extension ("x123", " ext. 123")
// that follows a number ending at e, or e.
func phoneExtension(text string, e int) int {
	i := e
	for _, p := range []string{" ext. ", " ext ", "ext.", "ext", " x", "x", "#"} {
		if len(text)-i > len(p) && strings.EqualFold(text[i:i+len(p)], p) {
			i += len(p)
			break
		}
	}
	if i == e {
		return e
	}
	j := i
	for j < len(text) && j-i < 6 && isDigit(text[j]) {
		j++
	}
	if j == i || j < len(text) && isAlnum(text[j]) {
		return e
	}
	return j
}

// phoneAt returns how many groups from gs[i] form a phone number and a
// confidence before context; confidence under 0.5 needs a context word.
func phoneAt(text string, gs []group, i int) (int, float64) {
	digitsFrom := func(n int) (d int) {
		for k := i; k < i+n; k++ {
			d += gs[k].len()
		}
		return d
	}
	okSep := func(k int) bool {
		switch sep(text, gs, k) {
		case " ", "-", ".", ") ", ")", " (", "(", ")-", "-(":
			return true
		}
		return false
	}
	okSeps := func(n int) bool {
		for k := i + 1; k < i+n; k++ {
			if !okSep(k) {
				return false
			}
		}
		return true
	}
	first := gs[i].start
	// E.164: +CC and groups, 8 to 15 digits; or 00/011 and the same.
	plus := first > 0 && (text[first-1] == '+' || i == 0 && strings.HasPrefix(text[max(0, first-2):first], "+(")) && text[first] != '0'
	idd := (text[first:gs[i].end] == "00" || text[first:gs[i].end] == "011" || text[first:gs[i].end] == "001") && i+1 < len(gs) && okSep(i+1)
	if plus || idd {
		skip := 0 // the international prefix is not part of the number
		if idd {
			skip = gs[i].len()
		}
		best := 0
		for n := 1; i+n <= len(gs) && n <= 7; n++ {
			if !okSeps(n) {
				break
			}
			if d := digitsFrom(n) - skip; d >= 8 && d <= 15 {
				best = n
			} else if d > 15 {
				break
			}
		}
		if best > 0 {
			return best, 0.85
		}
	}
	// North American: [1] NXX NXX XXXX.
	j := i
	if gs[j].len() == 1 && text[gs[j].start] == '1' && j+3 < len(gs) {
		j++
	}
	if j+2 < len(gs) && gs[j].len() == 3 && gs[j+1].len() == 3 && gs[j+2].len() == 4 &&
		text[gs[j].start] >= '2' && text[gs[j+1].start] >= '2' {
		n := j + 3 - i
		if okSeps(n) {
			paren := strings.Contains(text[gs[j].end:gs[j+1].start], ")")
			same := sep(text, gs, j+1) == sep(text, gs, j+2)
			switch {
			case paren || same && sep(text, gs, j+2) != " ":
				return n, 0.75
			default:
				return n, 0.45
			}
		}
	}
	// An area code in parentheses and the number: (37) 788-063, (08) 8747 6301.
	if first > 0 && text[first-1] == '(' && gs[i].len() <= 4 && i+1 < len(gs) && strings.HasPrefix(sep(text, gs, i+1), ")") {
		best := 0
		for n := 2; i+n <= len(gs) && n <= 4 && okSeps(n); n++ {
			if d := digitsFrom(n); d >= 7 && d <= 12 {
				best = n
			}
		}
		if best > 0 {
			return best, 0.7
		}
	}
	// Ten or eleven bare digits, or a national number in two or more
	// groups: phone-like only with a context word.
	if d := gs[i].len(); d == 10 && text[gs[i].start] >= '2' || d == 11 && (text[gs[i].start] == '1' || text[gs[i].start] == '0') {
		return 1, 0.4
	}
	best, long := 0, 0
	for n := 1; i+n <= len(gs) && n <= 6; n++ {
		if n > 1 && !okSep(i+n-1) {
			break
		}
		if l := gs[i+n-1].len(); l > 5 {
			if long++; long > 1 || l > 8 {
				break
			}
		}
		d := digitsFrom(n)
		if d > 12 {
			break
		}
		if n >= 2 && d >= 7 {
			best = n
		}
	}
	if best > 0 && !dateLike(text, gs[i:i+best]) && !(best == 4 && sep(text, gs, i+1) == "." && digitsFrom(best) <= 12 && maxGroup(gs[i:i+best]) <= 3) {
		return best, 0.4
	}
	return 0, 0
}

func maxGroup(gs []group) int {
	m := 0
	for _, g := range gs {
		m = max(m, g.len())
	}
	return m
}

// dateLike reports whether groups read as a date: 2024-01-15, 15.01.2024,
// possibly followed by an hour.
func dateLike(text string, gs []group) bool {
	if len(gs) < 3 {
		return false
	}
	year := func(g group) bool {
		return g.len() == 4 && (strings.HasPrefix(text[g.start:], "19") || strings.HasPrefix(text[g.start:], "20"))
	}
	small := func(g group) bool { return g.len() <= 2 }
	return year(gs[0]) && small(gs[1]) && small(gs[2]) || small(gs[0]) && small(gs[1]) && year(gs[2])
}

func findSSN(text string, anchors []Span, dst []Match) []Match {
	var buf [16]group
	for _, r := range anchors {
		gs := digitGroups(text, r, buf[:0])
		for i := range gs {
			var s, e int
			conf := 0.0
			switch {
			case i+2 < len(gs) && gs[i].len() == 3 && gs[i+1].len() == 2 && gs[i+2].len() == 4 &&
				(sep(text, gs, i+1) == "-" && sep(text, gs, i+2) == "-" || sep(text, gs, i+1) == " " && sep(text, gs, i+2) == " "):
				s, e, conf = gs[i].start, gs[i+2].end, 0.6
				if sep(text, gs, i+1) == " " {
					conf = 0.3
				}
			case gs[i].len() == 9:
				s, e, conf = gs[i].start, gs[i].end, 0.3
			default:
				continue
			}
			if !clearBefore(text, s) || !clearAfter(text, e) || i > 0 && sep(text, gs, i) != " " || !validSSN(text[s:e]) {
				continue
			}
			if contextBefore(text, s, ssnWordSet) {
				conf = min(0.95, conf+0.5)
			} else if conf < 0.5 {
				continue
			}
			dst = append(dst, Match{Start: s, End: e, Confidence: conf})
		}
	}
	return dst
}

// validSSN applies the SSA's rules: no area 000, 666 or 9xx, no group 00,
// no serial 0000.
func validSSN(v string) bool {
	var d [9]byte
	n := 0
	for i := 0; i < len(v) && n < 9; i++ {
		if isDigit(v[i]) {
			d[n] = v[i]
			n++
		}
	}
	area, grp, serial := string(d[0:3]), string(d[3:5]), string(d[5:9])
	return n == 9 && area != "000" && area != "666" && d[0] != '9' && grp != "00" && serial != "0000"
}

func findCard(text string, anchors []Span, dst []Match) []Match {
	var buf [16]group
	for _, r := range anchors {
		gs := digitGroups(text, r, buf[:0])
		for i := 0; i < len(gs); i++ {
			best, bestDigits, digits := -1, 0, 0
			var sepKind string
			for j := i; j < len(gs); j++ {
				if j > i {
					s := sep(text, gs, j)
					if j == i+1 {
						sepKind = s
					}
					if s != sepKind || s != " " && s != "-" {
						break
					}
				}
				digits += gs[j].len()
				if digits > 19 {
					break
				}
				if digits >= 12 && luhn(text[gs[i].start:gs[j].end]) {
					best, bestDigits = j, digits
				}
			}
			if best < 0 {
				continue
			}
			s, e := gs[i].start, gs[best].end
			if !clearBefore(text, s) || !clearAfter(text, e) ||
				i > 0 && sep(text, gs, i) == sepKind || best+1 < len(gs) && sep(text, gs, best+1) == sepKind {
				continue
			}
			// Maestro's 12 digits and the old JCB ranges (1800, 2131) need
			// a word that says card.
			if c := text[s]; (c < '2' || c > '6' || bestDigits < 13) && !contextBefore(text, s, cardWordSet) {
				continue
			}
			conf := 0.8
			if best > i {
				conf = 0.95
			}
			dst = append(dst, Match{Start: s, End: e, Confidence: conf})
			i = best
		}
	}
	return dst
}

// luhn checks the Luhn digit of the digits in s, ignoring separators.
func luhn(s string) bool {
	sum, double, n := 0, false, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
		n++
	}
	return n > 0 && sum%10 == 0
}
