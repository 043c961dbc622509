package filters

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// genericSecrets are the rules that do not depend on a vendor: private
// keys, JWTs, credentials in URLs and HTTP headers, and values assigned to
// keys named like secrets, gated by entropy.
func genericSecrets() []secretDef {
	return []secretDef{
		def(Rule{ID: "private-key", Type: TypeSecret, Label: "SECRET", Keywords: []string{"PRIVATE KEY"}, Find: findPrivateKey}).
			hit("here:\n«-----BEGIN RSA PRIVATE KEY-----\n{s64}\n{s64}\n{s20}==\n-----END RSA PRIVATE KEY-----»\nthanks",
				"«-----BEGIN OPENSSH PRIVATE KEY-----\n{s70}\n{s70}»",
				`"key": "«-----BEGIN PRIVATE KEY-----\n{s64}\n{s40}=\n-----END PRIVATE KEY-----»\n"`,
				"«-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n{s64}\n{s64}\n=ab12\n-----END PGP PRIVATE KEY BLOCK-----»").
			miss("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----", "-----BEGIN PUBLIC KEY-----\n{s64}\n-----END PUBLIC KEY-----"),
		def(Rule{ID: "putty-private-key", Type: TypeSecret, Label: "SECRET", Keywords: []string{"Private-Lines:"}, Find: findPuTTY}).
			hit("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{s64}\n{s20}\n«Private-Lines: 1\n{s43}=\nPrivate-MAC: {h64}»"),
		def(Rule{ID: "jwt", Type: TypeSecret, Label: "SECRET", Keywords: []string{"eyJ", "eyA"}, Find: findJWT}).
			hit("Authorization: «eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkEifQ.{b43}»",
				`{"id_token":"«eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuY29tIn0.{b86}»"}`,
				"unsigned «eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsImlhdCI6MTUxNjIzOTAyMn0.» token").
			miss("tokens start with eyJhbGciOi and so on", "eyJhbGciOiJIUzI1NiJ9 alone"),
		def(shapeRule("jwt-base64", []string{"ZXlK"}, `\AZXlK[A-Za-z0-9+/]{40,}={0,2}`, 16<<10, 0.85, base64JWT)).
			hit("auth=«ZXlKaGJHY2lPaUpJVXpJMU5pSjkuZXlKemRXSWlPaUl4TWpNMElpd2libUZ0WlNJNklrRWlmUS4{s40}»"),
		def(Rule{ID: "url-password", Type: TypeSecret, Label: "SECRET", Keywords: []string{"://"}, Find: findURLPassword}).
			hit("DATABASE_URL=postgres://app:«{a16}»@db.internal:5432/app",
				"mongodb+srv://admin:«{a12}»@cluster0.abcde.mongodb.net/test",
				"redis://:«{a12}»@cache:6379/0", "amqp://guest:«{a10}»@rabbit:5672/",
				"https://deploy:«{a20}»@git.corp.internal/repo.git").
			miss("postgres://user:password@localhost/db", "https://user@example.com/path and http://localhost:8080/x@y",
				"postgres://app:${DB_PASSWORD}@db/app"),
		def(Rule{ID: "bearer-token", Type: TypeSecret, Label: "SECRET", Keywords: []string{"bearer"}, Find: findBearer}).
			hit("Authorization: Bearer «{a40}»", `curl -H "Authorization: bearer «{b32}»" https://api.internal`).
			miss("Use Bearer token authentication for every request.", `"Bearer " + token.AccessToken`),
		def(regexpRule("basic-auth", []string{"basic"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)\bauthorization["']?\s*[:=]\s*["']?basic\s+([A-Za-z0-9+/]{6,}={0,3})`),
			Before: 40, After: 256, Confidence: 0.9,
			Validate: func(_, v string) bool { return basicCredentials(v) },
		})).
			hit("Authorization: Basic «ZGVwbG95OnByMGQtUmVsM2FzZSE=»", `curl -H 'Authorization: Basic «YnJvd3Nlcjo=»' \`).
			miss("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic realm"),
		def(Rule{ID: "authorization-header", Type: TypeSecret, Label: "SECRET", Keywords: []string{"authorization"}, Find: findAuthHeader}).
			hit(`curl --header 'Authorization:  «{h8}-{h4}-{h4}-{h4}-{h12}»'`, "Authorization: Token «{h40}»",
				`headers = {"Authorization": "token «{a36}»"}`, "authorization: SSWS «00{b40}»").
			hit(`curl -H "Authorization: Basic «{s60}»"`).
			miss("Authorization: Bearer {a40}", "Authorization: required", "the authorization: granted by the board",
				"Authorization: Basic dXNlcjpwYXNzd29yZA=="),
		def(Rule{ID: "curl-user", Type: TypeSecret, Label: "SECRET", Keywords: []string{"curl"}, Find: findCurlUser}).
			hit("curl --cacert ca.crt -u elastic:«P@ss{a8}» https://localhost:9200",
				"curl -k -X POST https://svc:11222/rest \\\n  -H 'Content-type: text/plain' \\\n  -u developer:«{a16}»",
				`curl -u "«{a10}»:" https://api.vendor.test/v1/charges`,
				`curl --user 'ops:«{a12}»' https://ci.internal`).
			miss("curl -i -u 'test:test'", `curl -sL --user "$1:$2" "$3"`, "curl -u $USER:$PASS https://x.test"),
		def(Rule{ID: "generic-secret", Type: TypeSecret, Label: "SECRET", Keywords: genericKeywords, Find: findAssignment}).
			hit(`DB_PASSWORD="«Tr0ub4dor&3x!»"`, `{"api_key": "«{a32}»"}`, "client_secret: «{a24}»",
				"token=«{h40}»", `passphrase = "«correct horse 9 battery staple»"`,
				"some_api_token_123 = \"«{a60}»\"", "creds = «{a30}»", "private-key: «{b100}»",
				`'secret_key' => '«{a32}»',`, "Server=db;User Id=sa;Password=«{a12}»;",
				"jdbc:mysql://db:3306/app?user=app&password=«{a14}»&ssl=true",
				`<add key="ApiKey" value="«{a32}»" />`, "X-Api-Key: «{a32}»", "export DB_PASS=«{a16}»").
			miss("password=changeme", "password: ${DB_PASSWORD}", "api_key: <your-key>", "token: {{ .Values.token }}",
				"max_tokens: 1024\nmax_tokens=4096", `tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")`,
				"password = self.password", "token = os.getenv('GITHUB_TOKEN')", "password: string;\nsecret: boolean",
				"The secret to good bread is patience: let it rise overnight.", "secret: 12345678901234",
				"api_version = 2024-06-01", "keyboard_layout = qwerty-intl-2", "public_key: {s64}", "author: Jane Q. Doe 2nd",
				"cache_key = user:{d8}:profile", "monkey = banana42split", "key_id = {A20}", "the key, however, was lost",
				"access_token_url = https://auth.example.test/oauth2/token", "bypass = true2false3maybe",
				"RUN --mount=type=secret,id=netrc,target=/root/.netrc go build"),
	}
}

// genericKeywords are what key names of secrets contain. "pass" is taken
// only as a word of its own (DB_PASS); longer words come in as "passw" and
// "passphrase".
var genericKeywords = []string{
	"passw", "passphrase", "passcode", "pass", "pwd", "secret", "token", "key", "api", "auth", "access", "cred",
}

// benignKeys are what key names that hold a keyword but no secret
// contain, once lower-cased and stripped of "_.-": ids, names, versions,
// URLs, lengths, public and database keys, keyboards, tokenizers.
var benignKeys = []string{
	"accessib", "accessor", "accesslog", "accesslevel", "accessmode", "accesscontrol", "accesscount", "accesstime", "accessid",
	"randomaccess", "apiid", "apiname", "apiversion", "apigroup", "apibase", "apihost", "apipath", "apiprefix", "rapid", "capital",
	"therap", "credentialid", "credentialsid", "credentialfile", "credentialsfile", "credentialpath", "credentialspath",
	"credentialprovider", "credentialsprovider", "credentialsource", "credentialtype", "credentialname", "withcredentials",
	"bucketkey", "foreignkey", "hotkey", "idxkey", "naturalkey", "primarykey", "pubkey", "publickey", "schemakey", "sequencekey",
	"sortkey", "partitionkey", "cachekey", "rowkey", "hashkey", "dictkey", "lookupkey", "uniquekey", "compositekey", "surrogatekey",
	"idempotencykey", "i18nkey", "translationkey", "mapkey", "groupkey", "routekey", "reactkey", "objectkey", "itemkey", "nodekey",
	"verifykey", "dedupkey", "turkey", "whiskey", "hockey", "jockey", "donkey", "monkey",
	"keyalias", "keyboard", "keycode", "keyframe", "keyid", "keylength", "keymesh", "keyname", "keypair", "keypress", "keyring",
	"keyselector", "keysignature", "keysize", "keystone", "keystore", "keyword", "keyup", "keydown", "keyleft", "keyright",
	"keytype", "keypath", "keyfile", "keyevent", "keybinding", "keystroke", "keymap", "keyprefix", "keyfield", "keycolumn",
	"keycount", "keyusage", "keyspec", "keyformat", "keyalgorithm", "keyversion", "keyindex", "keyvault", "keytab",
	"keyval", "issuerkeyhash", "keying", "secretlength", "secretname", "secretsize", "secretref", "secretpath", "secretfile",
	"secretarn", "secretmanager", "secretsmanager", "secretprovider", "secretstore", "secretversion", "secretid", "usersecretsid",
	"csrftoken", "xsrf", "iojsonwebtoken", "apiendpoint", "apiurl", "apiuri", "tokenendpoint", "tokenurl", "tokenuri", "authendpoint",
	"authurl", "authuri", "authhost", "authdomain", "authserver", "authtype", "authmethod", "authscheme", "authmode", "authprovider",
	"authheader", "tokenexpir", "tokentype", "publictoken", "tokenfile", "tokenpath", "tokens", "tokeniz", "tokencount", "tokenlimit",
	"tokenusage", "tokenlen", "oauthurl", "oauthhost", "oauthscope", "oauthprovider", "passed", "passes", "passing", "passenger",
	"passport", "passthrough", "passive", "passage", "bypass", "compass", "pwddir", "pwdpath", "authority", "authorized",
	"authorizationurl", "authorizationendpoint", "authntype",
}

// benignKey reports whether key names something other than a secret.
func benignKey(key string) bool {
	var buf [80]byte
	b := buf[:0]
	for i := 0; i < len(key) && len(b) < len(buf); i++ {
		if c := key[i]; c != '_' && c != '.' && c != '-' && c != ' ' && c != '\t' {
			b = append(b, lowerASCII(c))
		}
	}
	k := string(b)
	if strings.Contains(k, "author") && !strings.Contains(k, "authoriz") && !strings.Contains(k, "authoris") {
		return true
	}
	return benignKeySet.contains(k)
}

var benignKeySet = newAutomaton(benignKeys)

// findAssignment finds values assigned to a key that contains one of the
// rule's keywords: password=..., "api_key": "...", client_secret: ...,
// DB_PASSWORD='...', token := "...", <add key="ApiKey" value="...">. The
// grammar is gitleaks' (see assignedValue) plus quoted values with any
// character; the value must pass genericValue.
func findAssignment(text string, anchors []Span, dst []Match) []Match {
	done := 0
	for _, a := range anchors {
		if a.Start < done {
			continue
		}
		if a.End-a.Start == 4 && a.End < len(text) && isASCIILetter(text[a.End]) && strings.EqualFold(text[a.Start:a.End], "pass") {
			continue // "password" and the like come in as their own keyword
		}
		s, e, ok := assignedSpan(text, a.End)
		if !ok {
			continue
		}
		ks := a.Start
		for ks > 0 && a.Start-ks < 50 && (isWord(text[ks-1]) || text[ks-1] == '.' || text[ks-1] == '-') {
			ks--
		}
		ke := a.End
		for ke < len(text) && ke-a.End < 20 && (isWord(text[ke]) || text[ke] == '.' || text[ke] == '-') {
			ke++
		}
		key := text[ks:ke]
		if strings.EqualFold(key, "key") && text[s-1] == '"' && e < len(text) {
			// <add key="ApiKey" value="...">: the name is the key.
			key = text[s:e]
			s, e, ok = xmlValue(text, e+1)
			ok = ok && hasGenericKeyword(key)
		}
		if !ok || e-s < 6 || e-s > 200 || !genericValue(key, text[s:e]) || benignKey(key) {
			continue
		}
		dst = append(dst, Match{Start: s, End: e, Confidence: 0.7})
		done = e
	}
	return dst
}

func hasGenericKeyword(key string) bool {
	for _, k := range genericKeywords {
		if containsFold(key, k) {
			return true
		}
	}
	return false
}

// assignedSpan returns the value assigned to the key around a keyword
// ending at i: the text between quotes if the value is quoted, else a run
// of bytes up to a delimiter.
func assignedSpan(text string, i int) (int, int, bool) {
	s, ok := assignedValue(text, i)
	if !ok {
		return 0, 0, false
	}
	if q := text[s-1]; q == '"' || q == '\'' || q == '`' {
		e := s
		for e < len(text) && e-s <= 200 && text[e] != q && text[e] != '\n' && text[e] != '\r' {
			e++
		}
		if e >= len(text) || text[e] != q {
			return 0, 0, false
		}
		return s, e, true
	}
	e := s
	for e < len(text) && e-s <= 200 && !setValueStop[text[e]] {
		e++
	}
	return s, e, e > s
}

// xmlValue reads the value="..." attribute that follows key="..." at i.
func xmlValue(text string, i int) (int, int, bool) {
	w := text[i:min(len(text), i+96)]
	k := strings.Index(w, `value=`)
	if k < 0 || strings.ContainsAny(w[:k], "<>\n") || k+7 > len(w) {
		return 0, 0, false
	}
	q := w[k+6]
	if q != '"' && q != '\'' {
		return 0, 0, false
	}
	s := i + k + 7
	e := s
	for e < len(text) && e-s <= 200 && text[e] != q && text[e] != '\n' {
		e++
	}
	return s, e, e < len(text) && text[e] == q
}

var (
	setValueStop  = byteSet(" \t\r\n\"'`,;)]}{<>&")
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

// genericValue gates the value of a password=, token:, api_key= ...
// assignment: it must not be a template, a reference to a variable or a
// path, and must look random enough.
func genericValue(key, v string) bool {
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
	if !letter || len(v) < 8 || !(digit || symbol || len(v) >= 20) || space && !containsFold(key, "pass") {
		return false
	}
	if eq := strings.IndexByte(strings.TrimRight(v, "="), '='); eq > 0 && eq < 24 && isWord(v[eq-1]) {
		return false // a key=value list: type=secret,id=netrc
	}
	if strings.ContainsAny(v, "([{<$") || strings.Contains(v, "%(") || v[0] == '/' ||
		strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || dottedIdentifier(v) || placeholderValue(v) {
		return false
	}
	return entropy(v) >= 3-1e-9
}

// dottedIdentifier reports whether v reads like config.db.password.
func dottedIdentifier(v string) bool {
	parts, start := 0, 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && v[i] != '.' {
			if !setAlnumU[v[i]] {
				return false
			}
			continue
		}
		if i == start || isDigit(v[start]) {
			return false
		}
		parts++
		start = i + 1
	}
	return parts >= 2
}

// basicCredentials reports whether v is base64 of "user:password", or of
// "client:" with an empty secret.
func basicCredentials(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.IndexByte(s, ':')
	if i <= 0 || !readable(b) {
		return false
	}
	return i == len(s)-1 || !placeholderValue(s[i+1:])
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

// authSchemes are the HTTP authorization schemes whose credential
// findAuthHeader reads; Bearer and Basic have rules of their own.
var authSchemes = []string{"token", "api-token", "apitoken", "apikey", "api-key", "key", "ssws", "sso-key", "genieKey", "splunk", "dsn", "oauth", "digest", "hmac"}

var setBearer = byteSet("A-Za-z0-9._~+/-")

// findBearer finds the token after "Bearer": at least 20 bytes of the
// token68 alphabet, random-looking, with a digit.
func findBearer(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		i := a.End
		if a.Start > 0 && isAlnum(text[a.Start-1]) || i >= len(text) || text[i] != ' ' && text[i] != '\t' {
			continue
		}
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		e := i
		for e < len(text) && setBearer[text[e]] {
			e++
		}
		for e < len(text) && text[e] == '=' {
			e++
		}
		if v := text[i:e]; len(v) < 20 || isAlnum(byteAt(text, e)) || !strings.ContainsAny(v, "0123456789") || entropy(v) < 3.5 {
			continue
		}
		dst = append(dst, Match{Start: i, End: e, Confidence: 0.85})
	}
	return dst
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// findAuthHeader finds the credential of an Authorization header with a
// scheme other than Bearer and Basic, or with none.
func findAuthHeader(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		i := a.End
		for k := 0; k < 2 && i < len(text) && (text[i] == '"' || text[i] == '\''); k++ {
			i++
		}
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) || text[i] != ':' && text[i] != '=' {
			continue
		}
		i++
		for k := 0; i < len(text) && k < 6 && (text[i] == ' ' || text[i] == '\t' || text[i] == '"' || text[i] == '\''); k++ {
			i++
		}
		w := i
		for w < len(text) && w-i < 16 && (isAlnum(text[w]) || text[w] == '-') {
			w++
		}
		basic := false
		if w < len(text) && text[w] == ' ' {
			word := strings.ToLower(text[i:w])
			if word == "bearer" {
				continue
			}
			if basic = word == "basic"; basic {
				i = w + 1
			}
			for _, s := range authSchemes {
				if word == strings.ToLower(s) {
					i = w + 1
					break
				}
			}
		}
		e := i
		for e < len(text) && e-i <= 512 && (isWord(text[e]) || strings.IndexByte("=~@.+/:-", text[e]) >= 0) {
			e++
		}
		v := text[i:e]
		if basic {
			// basic-auth has the credentials that decode; what does not
			// decode to user:password is still a credential.
			if b, err := base64.StdEncoding.DecodeString(v); err == nil && readable(b) || len(v) < 16 || entropy(v) < 3.5 {
				continue
			}
		} else if len(v) < 8 || placeholderValue(v) || entropy(v) < 3 || !strings.ContainsAny(v, "0123456789") {
			continue
		}
		if !valueEnds(text, e) {
			continue
		}
		dst = append(dst, Match{Start: i, End: e, Confidence: 0.85})
	}
	return dst
}

// findCurlUser finds the credentials of curl's -u/--user option on the
// command that starts at the keyword (up to six lines with continuations):
// the password, or the user when the password is empty (API keys passed
// as the user name).
func findCurlUser(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		if a.Start > 0 && isWord(text[a.Start-1]) || a.End < len(text) && isWord(text[a.End]) {
			continue
		}
		end, lines := a.End, 0
		for end < len(text) && end-a.End < 1024 && lines < 6 {
			if text[end] == '\n' {
				lines++
			}
			end++
		}
		cmd := text[a.End:end]
		for off := 0; ; {
			k := strings.Index(cmd[off:], "-u")
			if k < 0 {
				break
			}
			k += off
			off = k + 2
			p := k + 2
			if strings.HasPrefix(cmd[k:], "-user") {
				p = k + 5
			}
			if k == 0 || !isSpaceAny(cmd[k-1]) && !(cmd[k-1] == '-' && k >= 2 && isSpaceAny(cmd[k-2])) {
				continue
			}
			if p < len(cmd) && cmd[p] == '=' {
				p++
			} else {
				for p < len(cmd) && (cmd[p] == ' ' || cmd[p] == '\t') {
					p++
				}
			}
			if p == k+2 && p < len(cmd) && cmd[p] != '=' && !isSpaceAny(cmd[p-1]) {
				continue
			}
			s, e, ok := shellWord(cmd, p)
			if !ok {
				continue
			}
			c := strings.IndexByte(cmd[s:e], ':')
			if c < 0 {
				continue
			}
			user, pass := cmd[s:s+c], cmd[s+c+1:e]
			vs, ve := s+c+1, e
			if pass == "" {
				vs, ve = s, s+c
				if len(user) < 6 || placeholderValue(user) || !strings.ContainsAny(user, "0123456789") && entropy(user) < 3 {
					continue
				}
			} else if len(pass) < 3 || placeholderValue(pass) || strings.ContainsAny(pass[:1], "$") || pass == user {
				continue
			}
			dst = append(dst, Match{Start: a.End + vs, End: a.End + ve, Confidence: 0.85})
			break
		}
	}
	return dst
}

// shellWord returns the span of the shell word at p, inside its quotes.
func shellWord(s string, p int) (int, int, bool) {
	if p >= len(s) {
		return 0, 0, false
	}
	if q := s[p]; q == '"' || q == '\'' {
		e := strings.IndexByte(s[p+1:], q)
		if e < 0 {
			return 0, 0, false
		}
		return p + 1, p + 1 + e, e > 0
	}
	e := p
	for e < len(s) && !isSpaceAny(s[e]) && s[e] != ';' && s[e] != '|' {
		e++
	}
	return p, e, e > p
}
