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
	}
	s := newTestScanner(t, Policy{})
	for _, u := range units {
		text := strings.Repeat(u, n/len(u))
		start := time.Now()
		sanitized, _ := s.ScanText("srv", text)
		sess := s.newSession("srv")
		sess.process(text, scopeUser, "")
		sess.restore(sanitized, nil)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q x %d: took %v", u, n/len(u), d)
		} else {
			t.Logf("%q: %v", u, d)
		}
	}
}
