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
func contextBefore(text string, s int, words []string) bool {
	hay := text[max(0, s-48):s]
	for _, w := range words {
		if containsFold(hay, w) {
			return true
		}
	}
	return false
}

var (
	phoneWords = []string{"phone", "tel", "mobile", "cell", "call", "fax", "contact", "whatsapp", "sms",
		"text me", "reach me", "number", "mob", "téléphone", "telefon", "teléfono", "电话"}
	ssnWords = []string{"ssn", "social security", "social-security", "ss#", "ss #", "taxpayer"}
)

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
			if !clearBefore(text, s) || !clearAfter(text, e) {
				i++
				continue
			}
			if contextBefore(text, s, phoneWords) {
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

// phoneAt returns how many groups from gs[i] form a phone number and a
// confidence before context; confidence under 0.5 needs a context word.
func phoneAt(text string, gs []group, i int) (int, float64) {
	digitsFrom := func(n int) (d int) {
		for k := i; k < i+n; k++ {
			d += gs[k].len()
		}
		return d
	}
	okSeps := func(n int) bool {
		for k := i + 1; k < i+n; k++ {
			switch sep(text, gs, k) {
			case " ", "-", ".", ") ", ")", " (", "(", ")-":
			default:
				return false
			}
		}
		return true
	}
	// E.164: +CC and groups, 8 to 15 digits.
	if gs[i].start > 0 && (text[gs[i].start-1] == '+' || i == 0 && strings.HasPrefix(text[max(0, gs[i].start-2):gs[i].start], "+(")) && text[gs[i].start] != '0' {
		best := 0
		for n := 1; i+n <= len(gs) && n <= 6; n++ {
			if !okSeps(n) {
				break
			}
			if d := digitsFrom(n); d >= 8 && d <= 15 {
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
	// Ten or eleven bare digits, or a national number starting with 0 in
	// two or more groups: phone-like only with a context word.
	if d := gs[i].len(); d == 10 && text[gs[i].start] >= '2' || d == 11 && text[gs[i].start] == '1' {
		return 1, 0.4
	}
	if text[gs[i].start] == '0' {
		for n := 2; i+n <= len(gs) && n <= 5 && okSeps(n); n++ {
			if d := digitsFrom(n); d >= 9 && d <= 12 && (i+n == len(gs) || digitsFrom(n+1) > 12) {
				return n, 0.4
			}
		}
	}
	return 0, 0
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
			if contextBefore(text, s, ssnWords) {
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
			best, digits := -1, 0
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
				if digits >= 13 && luhn(text[gs[i].start:gs[j].end]) {
					best = j
				}
			}
			if best < 0 {
				continue
			}
			s, e := gs[i].start, gs[best].end
			if c := text[s]; c < '2' || c > '6' || !clearBefore(text, s) || !clearAfter(text, e) ||
				i > 0 && sep(text, gs, i) == sepKind || best+1 < len(gs) && sep(text, gs, best+1) == sepKind {
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
