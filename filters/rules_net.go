package filters

import (
	"net/netip"
	"strings"
)

// This file holds the rules for identifiers that are not obviously personal
// but usually are in practice: IBANs, IP and MAC addresses.

// ibanLengths is the length of an IBAN per country, from the SWIFT registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
	"IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
	"LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
	"SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
	"TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// ibanLen is ibanLengths as a table, indexed by the letters of the
// country code.
var ibanLen = func() (t [26][26]uint8) {
	for cc, n := range ibanLengths {
		t[cc[0]-'A'][cc[1]-'A'] = uint8(n)
	}
	return t
}()

// findIBAN reads an IBAN from the country code before a number run, in
// the compact or the grouped (by spaces) form, in upper or lower case, and
// checks its length and mod-97 check digits. A lower-case IBAN whose first
// digits are short runs ("gb42nawi0445...") is found from a later run.
func findIBAN(text string, anchors []Span, dst []Match) []Match {
	last := 0
	for _, r := range anchors {
		s := r.Start
		if s < last || s < 2 || !isASCIILetter(text[s-1]) {
			continue
		}
		m, ok := Match{}, false
		if isDigit(text[s]) && s+1 < len(text) && isDigit(text[s+1]) && isASCIILetter(text[s-2]) {
			m, ok = ibanAt(text, s-2)
		}
		if !ok {
			// Look back for the country code of a lower-case IBAN.
			k := s - 1
			for k > 0 && s-k < 30 && isAlnum(text[k-1]) {
				k--
			}
			if k+4 <= len(text) && isASCIILetter(text[k]) && isASCIILetter(text[k+1]) && isDigit(text[k+2]) && isDigit(text[k+3]) {
				m, ok = ibanAt(text, k)
			}
		}
		if ok {
			dst = append(dst, m)
			last = m.End
		}
	}
	return dst
}

// ibanAt parses an IBAN that starts at s.
func ibanAt(text string, s int) (Match, bool) {
	upper := isUpper(text[s]) && isUpper(text[s+1])
	if !upper && (isUpper(text[s]) || isUpper(text[s+1])) || s > 0 && isAlnum(text[s-1]) {
		return Match{}, false
	}
	want := int(ibanLen[(text[s]&^0x20)-'A'][(text[s+1]&^0x20)-'A'])
	if want == 0 {
		return Match{}, false
	}
	var buf [34]byte
	n, e := 0, s
	for e < len(text) && n < want {
		c := text[e]
		switch {
		case isDigit(c) || isUpper(c) || !upper && 'a' <= c && c <= 'z':
			buf[n] = c &^ 0x20
			if isDigit(c) {
				buf[n] = c
			}
			n++
			e++
		case c == ' ' && e+1 < len(text) && isAlnum(text[e+1]) && n%4 == 0:
			e++
		default:
			want = -1 // stop: too short
		}
	}
	if n != want || e < len(text) && isAlnum(text[e]) || !mod97(buf[:n]) {
		return Match{}, false
	}
	return Match{Start: s, End: e, Confidence: 0.95}, true
}

// mod97 checks an IBAN per ISO 13616: move the first four characters to
// the end, read letters as 10 to 35, and the number mod 97 must be 1.
func mod97(iban []byte) bool {
	if len(iban) < 5 {
		return false
	}
	rem := 0
	add := func(c byte) {
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range iban[4:] {
		add(c)
	}
	for _, c := range iban[:4] {
		add(c)
	}
	return rem == 1
}

// versionWords before a dotted quad make it a version, not an address.
var versionWords = []string{"version", "release", "ver", "build", "firmware", "driver", "kernel", "sdk", "upgrade", "update", "patch"}

func findIPv4(text string, anchors []Span, dst []Match) []Match {
	var buf [16]group
	for _, r := range anchors {
		gs := digitGroups(text, r, buf[:0])
		for i := 0; i+3 < len(gs); i++ {
			ok := true
			for k := i + 1; k <= i+3; k++ {
				ok = ok && sep(text, gs, k) == "."
			}
			s, e := gs[i].start, gs[i+3].end
			if !ok || i > 0 && sep(text, gs, i) == "." || i+4 < len(gs) && sep(text, gs, i+4) == "." ||
				!clearBefore(text, s) || !clearAfter(text, e) {
				continue
			}
			ip, err := netip.ParseAddr(text[s:e])
			if err != nil {
				continue
			}
			if conf := ipConfidence(ip); conf == 0 || versionQuad(text, s, e, ip) {
				continue
			} else {
				dst = append(dst, Match{Start: s, End: e, Confidence: conf})
			}
			i += 3
			continue
		}
	}
	return dst
}

// versionQuad reports whether the dotted quad at [s, e) is a version
// rather than an address: after a version word or a version operator
// (v1.2.3.4, ==1.2.3.4, @1.2.3.4), before a pre-release suffix
// (1.2.3.4-beta), or four single digits (1.2.3.4) without a word that
// speaks of addresses.
func versionQuad(text string, s, e int, ip netip.Addr) bool {
	if wordBefore(text, s, versionWords) {
		return true
	}
	if s > 0 {
		switch text[s-1] {
		case 'v', 'V', '=', '@', '^', '~', '>', '<':
			return true
		}
	}
	if e+1 < len(text) && (text[e] == '-' && isASCIILetter(text[e+1]) || text[e] == '+') {
		return true
	}
	b := ip.As4()
	return b[0] < 10 && b[1] < 10 && b[2] < 10 && b[3] < 10 && !wordBefore(text, s, ipWords)
}

var (
	// ipWords before a dotted quad of single digits make it an address.
	ipWords = []string{"ip", "addr", "host", "server", "connect", "ping", "dns", "gateway", "route", "subnet", "proxy", "peer", "client"}
	ipDoc   = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

// ipConfidence is 0 for addresses that identify nobody (loopback,
// unspecified, broadcast, documentation), lower for private ones.
func ipConfidence(ip netip.Addr) float64 {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		ip.Is4() && ip.As4()[0] == 0 {
		return 0
	}
	for _, p := range ipDoc {
		if p.Contains(ip) {
			return 0
		}
	}
	if ip.IsPrivate() || ip.IsLinkLocalUnicast() {
		return 0.5
	}
	return 0.8
}

// colonCandidate trims a colon run to a candidate address and checks that
// it is not glued to a word.
func colonCandidate(text string, r Span) (int, int, bool) {
	s, e := r.Start, r.End
	for e > s && (text[e-1] == '.' || text[e-1] == '-') {
		e--
	}
	for s < e && (text[s] == '.' || text[s] == '-') {
		s++
	}
	if e-s < 3 || s > 0 && (isAlnum(text[s-1]) || text[s-1] == '_') || e < len(text) && (isAlnum(text[e]) || text[e] == '_') {
		return 0, 0, false
	}
	return s, e, true
}

func findIPv6(text string, anchors []Span, dst []Match) []Match {
	for _, r := range anchors {
		s, e, ok := colonCandidate(text, r)
		if !ok || strings.Contains(text[s:e], "-") {
			continue
		}
		ip, err := netip.ParseAddr(text[s:e])
		if err != nil && text[e-1] == ':' && !strings.HasSuffix(text[s:e], "::") {
			e--
			ip, err = netip.ParseAddr(text[s:e])
		}
		if err != nil || !ip.Is6() {
			continue
		}
		groups := 0
		for _, g := range strings.Split(text[s:e], ":") {
			if g != "" {
				groups++
			}
		}
		conf := ipConfidence(ip)
		if groups < 3 || conf == 0 {
			continue
		}
		dst = append(dst, Match{Start: s, End: e, Confidence: conf})
	}
	return dst
}

// findMAC finds MAC addresses written as six hex pairs separated by colons
// or by dashes.
func findMAC(text string, anchors []Span, dst []Match) []Match {
	for _, r := range anchors {
		s, e, ok := colonCandidate(text, r)
		if !ok || e-s != 17 {
			continue
		}
		v := text[s:e]
		sep := v[2]
		ok = sep == ':' || sep == '-'
		for i := 0; i < 17 && ok; i++ {
			if i%3 == 2 {
				ok = v[i] == sep
			} else {
				ok = isHex(v[i])
			}
		}
		if !ok || strings.Trim(v, "0:-") == "" || strings.EqualFold(strings.ReplaceAll(v, "-", ":"), "ff:ff:ff:ff:ff:ff") {
			continue
		}
		dst = append(dst, Match{Start: s, End: e, Confidence: 0.7})
	}
	return dst
}
