package filters

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAutomatonMatchesNaiveSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abAB_-:@忽"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for round := range 200 {
		var pats []string
		for range 1 + r.IntN(8) {
			pats = append(pats, asciiLower(word(1+r.IntN(4))))
		}
		text := word(r.IntN(80))
		a := newAutomaton(pats)
		var got []acHit
		got = a.scan(text, got)
		var want []acHit
		lower := asciiLower(text)
		for end := 1; end <= len(text); end++ {
			for pi, p := range pats {
				if strings.HasSuffix(lower[:end], p) {
					want = append(want, acHit{pat: int32(pi), end: int32(end)})
				}
			}
		}
		sortHits := func(h []acHit) {
			slices.SortFunc(h, func(a, b acHit) int {
				if a.end != b.end {
					return int(a.end - b.end)
				}
				return int(a.pat - b.pat)
			})
		}
		sortHits(got)
		sortHits(want)
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(acHit{})); diff != "" {
			t.Fatalf("round %d: patterns %q text %q (-want +got):\n%s", round, pats, text, diff)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		hidden  hidden
		changed bool
	}{
		{"ascii", "plain text", "plain text", hidden{}, false},
		{"already nfkc", "café 東京", "café 東京", hidden{}, false},
		{"full width", "ＡＫＩＡ", "AKIA", hidden{}, true},
		{"ligature", "ﬁle", "file", hidden{}, true},
		{"zero width", "ig\u200bnore", "ignore", hidden{zeroWidth: 1}, true},
		{"joiner between letters", "ig\u200dnore", "ignore", hidden{zeroWidth: 1}, true},
		{"emoji joiner kept", "👩\u200d💻", "👩\u200d💻", hidden{}, false},
		{"bidi", "a\u202eb\u2066c", "abc", hidden{bidi: 2}, true},
		{"tags", "hi\U000E0041\U000E0042", "hi", hidden{tags: 2, tagText: "AB"}, true},
		{"flag kept", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", hidden{}, false},
		{"variation supplement", "x\U000E0100\U000E0101", "x", hidden{variation: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, h, changed := normalize(tt.in)
			if got != tt.want || changed != tt.changed {
				t.Errorf("normalize(%q) = %q, %v, want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
			if diff := cmp.Diff(tt.hidden, h, cmp.AllowUnexported(hidden{})); diff != "" {
				t.Errorf("hidden (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeASCIIDoesNotAllocate(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 50)
	if n := testing.AllocsPerRun(100, func() { normalize(text) }); n != 0 {
		t.Errorf("normalize allocates %v times on ASCII, want 0", n)
	}
}

func TestScanCleanTextDoesNotAllocate(t *testing.T) {
	s := newTestScanner(t, Policy{})
	text := strings.Repeat("The quick brown fox jumps over the lazy dog, 42 times. ", 40)
	s.ScanText("srv", text) // warm the pool
	if n := testing.AllocsPerRun(50, func() { s.ScanText("srv", text) }); n > 1 {
		t.Errorf("ScanText allocates %v times on clean text, want at most 1 (the session)", n)
	}
}

func TestResolvePrefersSecretsAndLongerSpans(t *testing.T) {
	// The password of a URL is a secret; the e-mail-like tail must not win.
	s := newTestScanner(t, Policy{})
	got, fs := s.ScanText("srv", "postgres://bob:"+tok(9, csAlnum, 12)+"@db.example.com/x")
	if want := "postgres://bob:[SECRET_1]@db.example.com/x"; got != want {
		t.Errorf("ScanText = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"url-password"}, rulesOf(fs, "")); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestCustomRule(t *testing.T) {
	rule := Rule{
		ID: "employee-id", Type: TypePII, Label: "EMPLOYEE", Keywords: []string{"EMP-"},
		Find: (&RegexpFinder{Re: mustRe(`EMP-[0-9]{6}`), Before: 1, After: 10}).Find,
	}
	s := New(Options{Rules: append(DefaultRules(), rule), FingerprintKey: testKey})
	got, fs := s.ScanText("srv", "ask EMP-123456 and emp-654321")
	if want := "ask [EMPLOYEE_1] and emp-654321"; got != want {
		t.Errorf("ScanText = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"employee-id"}, rulesOf(fs, "")); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lowerASCII(b[i])
	}
	return string(b)
}

func TestScanSplitMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pats := []string{"abc", "b", "cab", "aaaa", "bcbcbcbcbc", "é"}
	a := newAutomaton(pats)
	const alphabet = "abcABC é"
	var tmp [3][]acHit
	for round := range 100 {
		n := 1000 + r.IntN(5000)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		text := string(b)
		want := a.scan(text, nil)
		got, ascii := a.scanSplit(text, nil, &tmp)
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(acHit{})); diff != "" {
			t.Fatalf("round %d (len %d): scanSplit differs from scan (-want +got):\n%s", round, n, diff)
		}
		if ascii != isASCII(text) {
			t.Fatalf("round %d: ascii = %v, want %v", round, ascii, isASCII(text))
		}
	}
}

func TestHasDigit8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			if got, want := hasDigit8(load64(string(b), 0)), isDigit(byte(c)); got != want {
				t.Fatalf("hasDigit8 with byte %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}
