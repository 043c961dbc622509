package filters

import (
	"encoding/base64"
	"math"
	"regexp"
	"strings"
)

// Byte sets for token bodies.
var (
	setAlnum     = byteSet("A-Za-z0-9")
	setAlnumU    = byteSet("A-Za-z0-9_")
	setB64URL    = byteSet("A-Za-z0-9_-")
	setB64URLEq  = byteSet("A-Za-z0-9_=-")
	setB64Std    = byteSet("A-Za-z0-9+/=_")
	setUpperNum  = byteSet("A-Z0-9")
	setHexLower  = byteSet("a-f0-9")
	setHex       = byteSet("a-fA-F0-9")
	setHexDash   = byteSet("a-f0-9-")
	setAlnumDash = byteSet("A-Za-z0-9-")
	setAlnumDot  = byteSet("A-Za-z0-9_.-")
	setBech32    = byteSet("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")
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

// SecretRules returns the built-in secret rules.
func SecretRules() []Rule {
	return []Rule{
		tokenRule("aws-access-key", []string{"AKIA", "ASIA", "ABIA", "ACCA"}, setUpperNum, 16, 16, 0.95, nil),
		regexpRule("aws-secret-key", []string{"aws"}, &RegexpFinder{
			Re:    regexp.MustCompile(`(?i)\Aaws[a-z0-9_.\-]{0,20}?(?:secret|sk)[a-z0-9_.\-]{0,20}["']?\s*(?:=|:=|:|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
			After: 128, Anchored: true, Confidence: 0.95,
		}),
		tokenRule("gcp-api-key", []string{"AIza"}, setB64URL, 35, 35, 0.95, nil),
		regexpRule("gcp-service-account-key", []string{"private_key_id"}, &RegexpFinder{
			Re:     regexp.MustCompile(`"private_key_id"\s*:\s*"([a-f0-9]{40})"`),
			Before: 4, After: 80, Confidence: 0.95,
		}),
		{ID: "private-key", Type: TypeSecret, Label: "SECRET", Keywords: []string{"PRIVATE KEY"}, Find: findPrivateKey},
		regexpRule("azure-storage-key", []string{"accountkey"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)AccountKey=([A-Za-z0-9+/]{86}==)`),
			Before: 4, After: 100, Confidence: 0.95,
		}),
		regexpRule("azure-client-secret", []string{"Q~"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)`),
			Before: 8, After: 40, Confidence: 0.85,
		}),
		tokenRule("github-token", []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, setAlnum, 36, 251, 0.95, nil),
		tokenRule("github-fine-grained-token", []string{"github_pat_"}, setAlnumU, 60, 251, 0.95, nil),
		tokenRule("gitlab-token", []string{"glpat-", "gldt-", "glrt-", "glptt-"}, setB64URL, 20, 255, 0.95, nil),
		tokenRule("slack-token", []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"}, setAlnumDash, 10, 255, 0.95, nil),
		tokenRule("slack-app-token", []string{"xapp-"}, setAlnumDash, 10, 255, 0.95, nil),
		regexpRule("slack-webhook", []string{"hooks.slack.com"}, &RegexpFinder{
			Re:     regexp.MustCompile(`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+\-]{20,}`),
			Before: 8, After: 200, Confidence: 0.95,
		}),
		regexpRule("discord-webhook", []string{"discord"}, &RegexpFinder{
			Re:     regexp.MustCompile(`https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,}`),
			Before: 24, After: 160, Confidence: 0.95,
		}),
		tokenRule("stripe-key", []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_"}, setAlnum, 20, 255, 0.95, nil),
		tokenRule("twilio-api-key", []string{"SK"}, setHexLower, 32, 32, 0.8, nil),
		tokenRule("twilio-account-sid", []string{"AC"}, setHexLower, 32, 32, 0.6, nil),
		tokenRule("sendgrid-api-key", []string{"SG."}, setAlnumDot, 66, 66, 0.95, func(t string) bool { return t[25] == '.' }),
		tokenRule("openai-api-key", []string{"sk-"}, setB64URL, 20, 255, 0.85, func(t string) bool {
			return !strings.HasPrefix(t, "sk-ant-") && mixedCase(t)
		}),
		tokenRule("anthropic-api-key", []string{"sk-ant-"}, setB64URL, 32, 255, 0.95, nil),
		tokenRule("google-oauth-client-secret", []string{"GOCSPX-"}, setB64URL, 28, 28, 0.95, nil),
		tokenRule("npm-token", []string{"npm_"}, setAlnum, 36, 36, 0.95, nil),
		tokenRule("pypi-token", []string{"pypi-AgEIcHlwaS5vcmc"}, setB64URL, 50, 255, 0.95, nil),
		tokenRule("huggingface-token", []string{"hf_"}, setAlnum, 30, 40, 0.9, mixedCase),
		tokenRule("shopify-token", []string{"shpat_", "shpca_", "shppa_", "shpss_"}, setHex, 32, 32, 0.95, nil),
		tokenRule("databricks-token", []string{"dapi"}, setHexLower, 32, 32, 0.9, nil),
		tokenRule("digitalocean-token", []string{"dop_v1_", "doo_v1_", "dor_v1_"}, setHexLower, 64, 64, 0.95, nil),
		tokenRule("linear-api-key", []string{"lin_api_"}, setAlnum, 40, 40, 0.95, nil),
		tokenRule("doppler-token", []string{"dp.pt.", "dp.st.", "dp.ct.", "dp.sa."}, setAlnum, 40, 44, 0.95, nil),
		tokenRule("atlassian-api-token", []string{"ATATT3"}, setB64URLEq, 150, 255, 0.95, nil),
		tokenRule("grafana-token", []string{"glsa_", "glc_"}, setB64Std, 32, 400, 0.9, nil),
		tokenRule("age-secret-key", []string{"AGE-SECRET-KEY-1"}, setBech32, 58, 58, 0.99, nil),
		tokenRule("vault-token", []string{"hvs.", "hvb."}, setB64URL, 24, 255, 0.9, nil),
		tokenRule("new-relic-key", []string{"NRAK-"}, setUpperNum, 27, 27, 0.95, nil),
		tokenRule("postman-api-key", []string{"PMAK-"}, setHexDash, 59, 59, 0.95, nil),
		tokenRule("square-token", []string{"sq0atp-", "sq0csp-"}, setB64URL, 22, 60, 0.95, nil),
		regexpRule("telegram-bot-token", []string{":AA"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:^|[^0-9])([0-9]{8,10}:AA[A-Za-z0-9_\-]{33})(?:[^A-Za-z0-9_\-]|$)`),
			Before: 12, After: 40, Confidence: 0.9,
		}),
		regexpRule("mailchimp-api-key", []string{"-us"}, &RegexpFinder{
			Re:     regexp.MustCompile(`\b([0-9a-f]{32}-us[0-9]{1,2})\b`),
			Before: 36, After: 6, Confidence: 0.85,
		}),
		{ID: "jwt", Type: TypeSecret, Label: "SECRET", Keywords: []string{"eyJ"}, Find: findJWT},
		{ID: "url-password", Type: TypeSecret, Label: "SECRET", Keywords: []string{"://"}, Find: findURLPassword},
		regexpRule("bearer-token", []string{"bearer"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{20,}=*)`),
			Before: 4, After: 512, Confidence: 0.85,
			Validate: func(_, v string) bool { return entropy(v) >= 3.5 && strings.ContainsAny(v, "0123456789") },
		}),
		regexpRule("basic-auth", []string{"basic"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)\bauthorization["']?\s*[:=]\s*["']?basic\s+([A-Za-z0-9+/]{8,}={0,2})`),
			Before: 40, After: 256, Confidence: 0.9,
			Validate: func(_, v string) bool { return basicCredentials(v) },
		}),
		{ID: "generic-secret", Type: TypeSecret, Label: "SECRET", Keywords: []string{
			"password", "passwd", "passphrase", "pwd", "secret", "token",
			"api_key", "api-key", "apikey", "access_key", "access-key", "accesskey",
			"private_key", "private-key", "privatekey", "signing_key", "signing-key", "encryption_key",
			"auth_key", "master_key", "secret_key", "secret-key", "secretkey",
		}, Find: findAssignment},
	}
}

// findAssignment finds values assigned to a key that ends in one of the
// rule's keywords: password=..., "api_key": "...", client_secret: ...,
// DB_PASSWORD='...', token := "...". The value must pass genericValue.
func findAssignment(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		i := a.End
		if i < len(text) && (text[i] == '"' || text[i] == '\'') {
			i++
		}
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		switch {
		case strings.HasPrefix(text[i:], "=>"), strings.HasPrefix(text[i:], ":="):
			i += 2
		case strings.HasPrefix(text[i:], "=="), strings.HasPrefix(text[i:], "::"):
			continue
		case i < len(text) && (text[i] == '=' || text[i] == ':'):
			i++
		default:
			continue
		}
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) {
			continue
		}
		var s, e int
		if q := text[i]; q == '"' || q == '\'' || q == '`' {
			s = i + 1
			e = s
			for e < len(text) && e-s <= 200 && text[e] != q && text[e] != '\n' && text[e] != '\r' {
				e++
			}
			if e >= len(text) || text[e] != q {
				continue
			}
		} else {
			s, e = i, i
			for e < len(text) && e-s <= 200 && !setValueStop[text[e]] {
				e++
			}
		}
		if n := e - s; n < 6 || n > 200 || !genericValue(text[a.Start:a.End], text[s:e]) {
			continue
		}
		dst = append(dst, Match{Start: s, End: e, Confidence: 0.7})
	}
	return dst
}

// findURLPassword finds the password of scheme://user:password@host URLs:
// database URLs (postgres, mysql, mongodb+srv, redis, amqp) and any other.
func findURLPassword(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		s := a.Start
		for s > 0 && a.Start-s <= 20 && setSchemeChar[text[s-1]] {
			s--
		}
		if s == a.Start || !isASCIILetter(text[s]) || s > 0 && isWord(text[s-1]) {
			continue
		}
		colon, at := -1, -1
		for i := a.End; i < len(text) && i-a.End <= 256; i++ {
			c := text[i]
			if c == ':' && colon < 0 {
				colon = i
			} else if c == '@' {
				at = i
				break
			} else if !setUserinfo[c] {
				break
			}
		}
		if colon < 0 || at < 0 || at == colon+1 || at+1 >= len(text) || !setHostStart[text[at+1]] {
			continue
		}
		if v := text[colon+1 : at]; !placeholderValue(v) {
			dst = append(dst, Match{Start: colon + 1, End: at, Confidence: 0.9})
		}
	}
	return dst
}

var (
	setValueStop  = byteSet(" \t\r\n\"'`,;)]}{<>")
	setSchemeChar = byteSet("A-Za-z0-9+.-")
	setHostStart  = byteSet("A-Za-z0-9.[-")
	setUserinfo   = func() *[256]bool {
		t := byteSet("\x21-\x7e")
		for _, c := range "/?#@\"'<>[]` " {
			t[c] = false
		}
		for c := 0x80; c < 0x100; c++ {
			t[c] = true
		}
		return t
	}()
)

// findPrivateKey finds PEM and PGP private key blocks from BEGIN through
// END, or through the key material when the END line is missing. It
// understands blocks embedded in JSON strings, where lines end in "\n".
func findPrivateKey(text string, anchors []Span, dst []Match) []Match {
	const maxBlock = 16 << 10
	for _, a := range anchors {
		line := text[max(0, a.Start-24):a.Start]
		b := strings.LastIndex(line, "-----BEGIN ")
		if b < 0 {
			continue
		}
		start := a.Start - len(line) + b
		rest := text[a.End:min(len(text), a.End+24)]
		d := strings.Index(rest, "-----")
		if d < 0 {
			continue
		}
		label := text[start+len("-----BEGIN ") : a.End+d]
		if strings.ContainsAny(label, "\n\r") {
			continue
		}
		bodyStart := a.End + d + len("-----")
		body := text[bodyStart:min(len(text), bodyStart+maxBlock)]
		end := -1
		if e := strings.Index(body, "-----END "+label+"-----"); e >= 0 && !strings.Contains(body[:e], "-----BEGIN ") {
			end = bodyStart + e + len("-----END "+label+"-----")
		} else if n := keyMaterial(body); n > 0 {
			end = bodyStart + n
		}
		if end < 0 || keyMaterial(text[bodyStart:end]) == 0 {
			continue
		}
		dst = append(dst, Match{Start: start, End: end, Confidence: 0.99})
	}
	return dst
}

// keyMaterial returns the length of the prefix of s made of base64 lines
// (and PEM headers), or 0 when there is none.
func keyMaterial(s string) int {
	i, end, tokens := 0, 0, 0
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
			continue
		case strings.HasPrefix(s[i:], `\n`) || strings.HasPrefix(s[i:], `\r`):
			i += 2
			continue
		case strings.HasPrefix(s[i:], "Proc-Type:") || strings.HasPrefix(s[i:], "DEK-Info:") || strings.HasPrefix(s[i:], "Comment:") || strings.HasPrefix(s[i:], "Version:"):
			for i < len(s) && s[i] != '\n' && s[i] != '\\' {
				i++
			}
			continue
		}
		j := i
		for j < len(s) && setB64Std[s[j]] {
			j++
		}
		if n := j - i; n < 16 && !(n >= 2 && s[j-1] == '=') {
			break
		}
		tokens++
		i, end = j, j
	}
	if tokens == 0 {
		return 0
	}
	return end
}

// findJWT finds JSON Web Tokens: base64url header and payload that both
// decode to a JSON object (so start with "eyJ"), and a signature.
func findJWT(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		s := a.Start
		if text[s:a.End] != "eyJ" || s > 0 && setB64URL[text[s-1]] {
			continue
		}
		j := s
		for j < len(text) && (setB64URL[text[j]] || text[j] == '.') && j-s < 16<<10 {
			j++
		}
		for j > s && text[j-1] == '.' {
			j--
		}
		tok := text[s:j]
		parts := strings.Split(tok, ".")
		if len(parts) != 3 && len(parts) != 5 || len(parts[0]) < 10 || len(parts[1]) < 10 || !strings.HasPrefix(parts[1], "eyJ") {
			continue
		}
		dst = append(dst, Match{Start: s, End: j, Confidence: 0.9})
	}
	return dst
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
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
	l := strings.ToLower(v)
	for _, w := range fakeMarkers {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

var fakeMarkers = []string{
	"example", "xxxx", "****", "....", "placeholder", "redacted", "changeme", "change_me",
	"dummy", "your_", "your-", "<your", "${", "{{", "sk_test_4ec39hqlyjwdarjtt1zdp7dc",
}

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

// genericValue gates the value of a password=, token:, api_key= ...
// assignment: it must not be a template, a reference to a variable or a
// path, and must look random enough.
func genericValue(match, v string) bool {
	if placeholderValue(v) || strings.ContainsAny(v, "([{<$") || strings.Contains(v, "%(") ||
		strings.HasPrefix(v, "/") || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") ||
		dottedIdentifier(v) {
		return false
	}
	var letter, digit, symbol, space bool
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c):
			digit = true
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			letter = true
		case c == ' ' || c == '\t':
			space = true
		default:
			symbol = true
		}
	}
	if space && !strings.Contains(strings.ToLower(match), "pass") {
		return false
	}
	return letter && len(v) >= 8 && entropy(v) >= 3-1e-9 && (digit || symbol || len(v) >= 20)
}

// dottedIdentifier reports whether v reads like config.db.password.
func dottedIdentifier(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || isDigit(p[0]) {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !setAlnumU[p[i]] {
				return false
			}
		}
	}
	return true
}

// basicCredentials reports whether v is base64 of "user:password".
func basicCredentials(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	i := strings.IndexByte(string(b), ':')
	return i > 0 && i < len(b)-1 && !placeholderValue(string(b[i+1:]))
}
