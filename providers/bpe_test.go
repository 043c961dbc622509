package providers

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// bpeTestEncodings are the encodings checked against tiktoken-go;
// p50k_edit shares p50k_base's ranks and pattern.
var bpeTestEncodings = []string{"o200k_base", "cl100k_base", "p50k_base", "r50k_base"}

// bpeFixtures holds a BPECounter and tiktoken-go's encoding, the oracle,
// for each of bpeTestEncodings, loaded once for all tests.
var bpeFixtures = sync.OnceValues(func() (map[string]bpeFixture, error) {
	tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	res := map[string]bpeFixture{}
	for _, name := range bpeTestEncodings {
		c, err := NewBPECounter(name)
		if err != nil {
			return nil, err
		}
		o, err := tiktoken.GetEncoding(name)
		if err != nil {
			return nil, err
		}
		res[name] = bpeFixture{c, o}
	}
	return res, nil
})

type bpeFixture struct {
	counter *BPECounter
	oracle  *tiktoken.Tiktoken
}

func loadBPEFixtures(t testing.TB) map[string]bpeFixture {
	t.Helper()
	f, err := bpeFixtures()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkCount fails t if c and tiktoken-go count s differently, showing
// where the pieces differ when they do.
func checkCount(t testing.TB, name string, f bpeFixture, s string) {
	t.Helper()
	want := len(f.oracle.EncodeOrdinary(s))
	got := f.counter.Count(s)
	if got == want {
		return
	}
	msg := fmt.Sprintf("%s: Count(%q) = %d, tiktoken-go %d", name, s, got, want)
	split := strings.Replace(name, "p50k_base", "r50k_base", 1) // same pattern
	for _, sp := range splitters {
		if sp.encoding == split && utf8.ValidString(s) {
			if diff := cmp.Diff(regexPieces(t, split, s), splitPieces(sp.split, s)); diff != "" {
				msg += fmt.Sprintf("\npieces (-regex +got):\n%s", diff)
			}
		}
	}
	t.Error(msg)
}

func TestBPECountTrickyStrings(t *testing.T) {
	fixtures := loadBPEFixtures(t)
	tests := []string{
		"", "a", "hello world", "Hello, World!", "I'm", "you're", "they've", "we'll", "he'd", "it's", "DON'T", "'sam",
		"0", "12", "123", "1234", "12345", "3.14159", "1,234,567.89",
		"naïve café", "cafe\u0301", "\u0301", "e\u0301\u0301\u0301", "Ünïcödé", "straße", "ǅemal", "ʰaʰ",
		"日本語のテキスト", "中文字符", "한국어 문장", "😀", "👩\u200d💻 👍🏽 🇫🇷", "❤️❤️❤️",
		" ", "  ", "\t", "\n", "\r\n", "\n\n\n", "x  ", "x\n", "x \n", "  \n\n  x", " \t \n \t x", "\u00a0x", "a\u3000b",
		"func main() {\n\tfmt.Println(\"hi\")\n}\n", "if (a && b) { return -1; }", "<a href=\"/x\">y</a>",
		"https://example.com/path/to?q=1&r=2", "C:\\Users\\me", "// comment\n/* block */", "x += 1 // ok",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("a", 1000),
		strings.Repeat(" ", 100), strings.Repeat("=", 300) + "\n", strings.Repeat("ab", 500),
		strings.Repeat("日本", 200), strings.Repeat("1", 100), strings.Repeat("\n", 100),
		"a\xffb", "\xe2\x82", "\xed\xa0\x80x", "caf\xc3", "\xff\xfe\xfd", "x\x80\x80 y",
	}
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			for _, s := range tests {
				checkCount(t, name, f, s)
			}
		})
	}
}

func TestBPECountMatchesTiktoken(t *testing.T) {
	fixtures := loadBPEFixtures(t)
	corpus := append(testCorpus(2000, 2), benchText(32<<10))
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			for _, s := range corpus {
				checkCount(t, name, f, s)
			}
		})
	}
}

// TestMergeLongMatchesShort checks the heap merge against the array merge
// on random pieces short enough for both.
func TestMergeLongMatchesShort(t *testing.T) {
	c := loadBPEFixtures(t)["cl100k_base"].counter
	rng := rand.New(rand.NewPCG(3, 3))
	alphabet := "aaabbcde     ==\n\t日本"
	for range 20000 {
		b := make([]byte, 2+rng.IntN(shortPiece-1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := c.mergeLong(string(b)), c.mergeShort(string(b)); got != want {
			t.Fatalf("mergeLong(%q) = %d, mergeShort %d", b, got, want)
		}
	}
}

func TestNewBPECounterUnknownEncoding(t *testing.T) {
	if _, err := NewBPECounter("gpt2"); err == nil {
		t.Error("NewBPECounter(gpt2) succeeded")
	}
}

func FuzzBPECount(f *testing.F) {
	for _, s := range corpusFragments {
		f.Add(s)
	}
	for _, s := range testCorpus(50, 4) {
		f.Add(s)
	}
	fixtures := loadBPEFixtures(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("tiktoken-go and Count both replace invalid UTF-8; the broker passes valid text")
		}
		for _, name := range bpeTestEncodings {
			checkCount(t, name, fixtures[name], s)
		}
	})
}

// benchText returns about size bytes of prose and code, cut at a rune
// boundary.
func benchText(size int) string {
	const text = `The quarterly report shows steady growth in all regions, with revenue up 12.5% year over year.
Customers in São Paulo and Zürich asked for faster onboarding; we shipped it in 3 weeks. Don't
forget: the API's rate limits (1,000 requests/min) apply per key, and they'll be enforced soon.

func (s *Server) handle(w http.ResponseWriter, r *http.Request) error {
	if err := s.limiter.Wait(r.Context()); err != nil {
		return fmt.Errorf("wait for rate limit: %w", err)
	}
	var req struct {
		Model    string   ` + "`json:\"model\"`" + `
		Messages []string ` + "`json:\"messages\"`" + `
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return err
	}
	return nil
}

{"id": "chatcmpl-42", "usage": {"prompt_tokens": 1234, "completion_tokens": 56}, "note": "naïve → ok"}
Résumé: 東京で会議、次は来週。 Итоги встречи: всё хорошо! 🚀
`
	s := strings.Repeat(text, size/len(text)+1)[:size]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func BenchmarkBPECount(b *testing.B) {
	fixtures := loadBPEFixtures(b)
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		f := fixtures[name]
		for _, size := range []int{2 << 10, 32 << 10} {
			text := benchText(size)
			b.Run(fmt.Sprintf("%s/%s/airlock", name, byteSize(size)), func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for b.Loop() {
					f.counter.Count(text)
				}
			})
			b.Run(fmt.Sprintf("%s/%s/tiktoken-go", name, byteSize(size)), func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for b.Loop() {
					f.oracle.EncodeOrdinary(text)
				}
			})
		}
	}
}

func BenchmarkNewBPECounter(b *testing.B) {
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewBPECounter(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBPEHostilePieceBounded: one enormous piece is counted as an upper
// bound (its length) instead of being merged.
func TestBPEHostilePieceBounded(t *testing.T) {
	c, err := NewBPECounter("o200k_base")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Repeat("a", 1<<20)
	if got := c.Count(s); got != len(s) {
		t.Errorf("Count of a 1 MiB piece = %d, want the bound %d", got, len(s))
	}
	short := strings.Repeat("ab", maxExactPiece/2)
	if got := c.Count(short); got >= len(short)/2 {
		t.Errorf("a piece at the limit is not merged exactly: %d tokens for %d bytes", got, len(short))
	}
}
