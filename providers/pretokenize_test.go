package providers

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/google/go-cmp/cmp"
)

// splitters pairs each pre-tokenizer with the regex it replaces, as
// tiktoken-go v0.1.8 declares it in encoding.go.
var splitters = []struct {
	encoding string
	split    splitter
	pattern  string
}{
	{"cl100k_base", (*runeClasses).splitCL100K, `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
	{"o200k_base", (*runeClasses).splitO200K, strings.Join([]string{
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`\p{N}{1,3}`,
		` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
		`\s*[\r\n]+`,
		`\s+(?!\S)`,
		`\s+`,
	}, "|")},
	{"r50k_base", (*runeClasses).splitLegacy, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`},
}

// compiledRegexes holds the patterns of splitters compiled as tiktoken-go
// compiles them.
var compiledRegexes = sync.OnceValue(func() map[string]*regexp2.Regexp {
	res := map[string]*regexp2.Regexp{}
	for _, sp := range splitters {
		res[sp.encoding] = regexp2.MustCompile(sp.pattern, regexp2.None)
	}
	return res
})

// regexPieces returns the matches of encoding's regex in s, cut from its
// runes as tiktoken-go cuts them.
func regexPieces(t testing.TB, encoding, s string) []string {
	t.Helper()
	re := compiledRegexes()[encoding]
	runes := []rune(s)
	var pieces []string
	m, err := re.FindRunesMatch(runes)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		pieces = append(pieces, string(runes[m.Index:m.Index+m.Length]))
	}
	if err != nil {
		t.Fatalf("regex %s on %q: %v", encoding, s, err)
	}
	return pieces
}

// testClasses is the class table of the splitters under test.
var testClasses = sync.OnceValue(newRuneClasses)

// splitPieces returns the pieces split cuts valid UTF-8 s into.
func splitPieces(split splitter, s string) []string {
	var pieces []string
	for i := 0; i < len(s); {
		e := split(testClasses(), s, i)
		pieces = append(pieces, s[i:e])
		i = e
	}
	return pieces
}

// wantClass is classify by definition, from the categories the regexes
// name.
func wantClass(r rune) uint8 {
	var c uint8
	if unicode.Is(unicode.L, r) {
		c |= cLetter
	}
	if unicode.Is(unicode.N, r) {
		c |= cNumber
	}
	if unicode.IsSpace(r) {
		c |= cSpace
	}
	if r == '\r' || r == '\n' {
		c |= cNewline
	}
	if unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M) {
		c |= cUpper
	}
	if unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.M) {
		c |= cLower
	}
	return c
}

func TestClassifyEveryRune(t *testing.T) {
	classes := testClasses()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		if got, n := classes.at(s, 0); got != wantClass(r) || n != len(s) {
			t.Fatalf("at(%U) = %06b, %d; want %06b, %d", r, got, n, wantClass(r), len(s))
		}
	}
}

func TestSplitTrickyStrings(t *testing.T) {
	tests := []struct {
		name, encoding, in string
		want               []string
	}{
		{"contraction", "cl100k_base", "I'm here", []string{"I", "'m", " here"}},
		{"contraction before letters", "cl100k_base", "'sam", []string{"'s", "am"}},
		{"upper contraction", "cl100k_base", "DON'T WE'LL", []string{"DON", "'T", " WE", "'LL"}},
		{"not a contraction", "cl100k_base", "'x 'L", []string{"'x", " '", "L"}},
		{"digits", "cl100k_base", "1 12 123 1234 12345", []string{"1", " ", "12", " ", "123", " ", "123", "4", " ", "123", "45"}},
		{"spaces before a word", "cl100k_base", "a   b", []string{"a", "  ", " b"}},
		{"newlines then spaces", "cl100k_base", "  \n\n  x", []string{"  \n\n", " ", " x"}},
		{"trailing spaces", "cl100k_base", "x  ", []string{"x", "  "}},
		{"trailing newline and space", "cl100k_base", "x\n ", []string{"x", "\n", " "}},
		{"tab before a word", "cl100k_base", "\t\tx", []string{"\t", "\tx"}},
		{"space before punctuation", "cl100k_base", "a  !!\n\nb", []string{"a", " ", " !!\n\n", "b"}},
		{"code", "cl100k_base", "if (x) {\n\treturn;\n}", []string{"if", " (", "x", ")", " {\n", "\treturn", ";\n", "}"}},
		{"combining mark", "cl100k_base", "e\u0301t", []string{"e", "\u0301t"}},
		{"cjk and emoji", "cl100k_base", "日本語 😀😀!", []string{"日本語", " 😀😀!"}},
		{"nbsp", "cl100k_base", "a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0b"}},

		{"contraction suffix", "o200k_base", "I'm here", []string{"I'm", " here"}},
		{"leading contraction", "o200k_base", "'sam", []string{"'sam"}},
		{"camel case", "o200k_base", "helloWorld HTTPServer's", []string{"hello", "World", " HTTPServer's"}},
		{"all caps", "o200k_base", "ABC DEF", []string{"ABC", " DEF"}},
		{"title case letter", "o200k_base", "ǅemal", []string{"ǅemal"}},
		{"mark alone", "o200k_base", "\u0301", []string{"\u0301"}},
		{"mark before capitals", "o200k_base", "\u0301AB", []string{"\u0301", "AB"}},
		{"slashes after newlines", "o200k_base", "!\n/x a//b", []string{"!\n/", "x", " a", "//", "b"}},
		{"digits", "o200k_base", "12345", []string{"123", "45"}},
		{"newlines then spaces", "o200k_base", "  \n\n  x", []string{"  \n\n", " ", " x"}},

		{"legacy", "r50k_base", "I'M don't  123456 !?", []string{"I", "'", "M", " don", "'t", " ", " 123456", " !?"}},
	}
	for _, tc := range tests {
		t.Run(tc.encoding+"/"+tc.name, func(t *testing.T) {
			for _, sp := range splitters {
				if sp.encoding != tc.encoding {
					continue
				}
				if diff := cmp.Diff(tc.want, regexPieces(t, sp.encoding, tc.in)); diff != "" {
					t.Fatalf("test expectation disagrees with the regex (-want +regex):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want, splitPieces(sp.split, tc.in)); diff != "" {
					t.Errorf("pieces of %q (-want +got):\n%s", tc.in, diff)
				}
			}
		})
	}
}

func TestSplitMatchesRegex(t *testing.T) {
	corpus := testCorpus(3000, 1)
	for _, sp := range splitters {
		t.Run(sp.encoding, func(t *testing.T) {
			for _, s := range corpus {
				if diff := cmp.Diff(regexPieces(t, sp.encoding, s), splitPieces(sp.split, s)); diff != "" {
					t.Fatalf("pieces of %q (-regex +got):\n%s", s, diff)
				}
			}
		})
	}
}

// corpusFragments are the bricks of testCorpus: the cases each regex
// alternative treats specially, in several scripts.
var corpusFragments = []string{
	"the", "The", "THE", "quick", "Brown", "fox", "HTTPServer", "iPhone", "naïve", "café", "cafe\u0301",
	"Ünïcödé", "straße", "ǅemal", "ʰa", "ÀÉÎ", "ŉ", "ﬁ", "İstanbul", "K", "ſ",
	"'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'x", "'", "''", "don't", "I'M", "'ſ", "'K",
	"0", "7", "42", "123", "2024", "12345", "3.14159", "1,000,000", "²", "½", "Ⅻ", "٣٤٥", "१२३", "𝟘𝟙",
	" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "  \n  ", "\u00a0", "\u3000", "\u2028",
	"\u0085", "\v", "\f", "\u1680", "\u200a", "\u205f", "\x1c",
	".", ",", "!", "?", "...", "!!", "--", "->", "=>", "/", "//", "/*", "*/", "{", "}", "(", ")", "[", "]",
	";", ":", "\"", "`", "```", "#", "@", "$", "%", "&", "|", "\\", "~", "^", "<", ">", "_", "__init__",
	"\u0301", "\u0308", "\u20dd", "\u093f", "\u0903", "\u0488",
	"日本語", "中文", "한국어", "カタカナ", "ひらがな", "ー", "々", "〆",
	"😀", "👍🏽", "👩\u200d💻", "🇫🇷", "❤️", "\u200d", "\ufeff", "\u200b", "\ufffd",
	"Привет", "мир", "Ελληνικά", "עברית", "العربية", "हिन्दी", "ภาษาไทย", "ᏣᎳᎩ",
	"func main() {", "fmt.Println(\"hi\")", "if x != nil {", "return err", "<div class=\"a\">",
	"SELECT * FROM t;", "https://example.com/a/b?c=d", "a_b", "camelCase", "snake_case", "0x1F", "x86_64",
	"\x00", "\x7f", "\u00ad",
	strings.Repeat("a", 100), strings.Repeat(" ", 70), strings.Repeat("=", 80), strings.Repeat("\n", 9),
	strings.Repeat("ab", 40), strings.Repeat("日", 30), "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGJhc2U2NCBibG9i",
}

// corpusRanges are the rune ranges testCorpus draws random runes from.
var corpusRanges = [][2]rune{
	{0x20, 0x7e}, {0x20, 0x7e}, {0x09, 0x0d}, {0xa0, 0x24f}, {0x250, 0x2ff}, {0x300, 0x36f},
	{0x370, 0x4ff}, {0x590, 0x6ff}, {0x900, 0x97f}, {0x1100, 0x11ff}, {0x2000, 0x206f},
	{0x2150, 0x218f}, {0x3000, 0x30ff}, {0x4e00, 0x9fff}, {0xac00, 0xd7a3}, {0xfe00, 0xfe0f},
	{0xff00, 0xffef}, {0x1d400, 0x1d7ff}, {0x1f300, 0x1faff}, {0, unicode.MaxRune},
}

// testCorpus returns n deterministic strings mixing corpusFragments,
// random runes and separators.
func testCorpus(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]string, 0, n)
	var b strings.Builder
	for range n {
		b.Reset()
		for range 1 + rng.IntN(40) {
			switch rng.IntN(10) {
			case 0, 1:
				rg := corpusRanges[rng.IntN(len(corpusRanges))]
				for range 1 + rng.IntN(6) {
					if r := rg[0] + rng.Int32N(rg[1]-rg[0]+1); utf8.ValidRune(r) {
						b.WriteRune(r)
					}
				}
			default:
				b.WriteString(corpusFragments[rng.IntN(len(corpusFragments))])
			}
			switch rng.IntN(5) {
			case 0, 1:
				b.WriteByte(' ')
			case 2:
				b.WriteString([]string{"\n", "  ", "\t", ", ", ". ", "\r\n"}[rng.IntN(6)])
			}
		}
		out = append(out, b.String())
	}
	return out
}
