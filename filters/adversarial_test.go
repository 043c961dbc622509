package filters

import (
	"strings"
	"testing"
	"time"
)

// TestAdversarialInputsStayLinear feeds inputs built to trigger every rule
// at every position and checks that scanning stays fast.
func TestAdversarialInputsStayLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 64 << 10
	units := []string{
		"a@", "eyJ", "-----BEGIN PRIVATE KEY-----", "PRIVATE KEY", "1 ", "1-", "12.", ":", "a:",
		"password=", "token: x", "http://", "ignore ", "sk-", "AKIA", "\u200b", "\U000E0041",
		"AAAA", "0123456789abcdef", "[EMAIL_1]", "EMAIL_", "](http://x?", "<a href=x?>",
		"DE89 ", "4111 ", "+1 ", "SK", "://a:b@", "\\n", "x\u0301",
		"your response ", "In your answer, ", "Add it to your code. ", "the following code snippet ",
		"What is 'x' in French? ", "Explain the ", "Write a story ", "curl -u a:b ", "authorization: basic ",
		"key=", "api_key: ", "Private-Lines: 1\n", "DAN ", "send it to http://x ", "replace letters ",
		"-----BEGIN PGP PRIVATE KEY BLOCK-----", "twitter_key=", ".atlasv1.", "sig=", "Q~", ":A", "-us", "_mmk",
		"ZXlK", "gb82west", "3c-22-fb-", "1.2.3.4 ", "(37) 788-", "Bearer ", "\"token\": \"",
	}
	s := newTestScanner(t, Policy{})
	for _, u := range units {
		text := strings.Repeat(u, n/len(u))
		start := time.Now()
		sanitized, _ := s.ScanText("srv", text)
		sess := s.newSession("srv")
		sess.process(text, scopeUser, "")
		sess.process(text, scopeData, "")
		sess.restore(sanitized, nil)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q x %d: took %v", u, n/len(u), d)
		} else {
			t.Logf("%q: %v", u, d)
		}
	}
}
