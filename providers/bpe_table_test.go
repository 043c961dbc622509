package providers

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// loaderRanks holds tiktoken-go-loader's own reading of each encoding's
// ranks, the oracle of the rank tables.
var loaderRanks = sync.OnceValues(func() (map[string]map[string]int, error) {
	res := map[string]map[string]int{}
	for _, name := range bpeTestEncodings {
		file, _, _ := bpeEncoding(name)
		ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(file)
		if err != nil {
			return nil, err
		}
		res[name] = ranks
	}
	return res, nil
})

func loadLoaderRanks(tb testing.TB) map[string]map[string]int {
	tb.Helper()
	r, err := loaderRanks()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// wantRank returns the rank of s in ranks, or noRank.
func wantRank(ranks map[string]int, s string) int32 {
	if r, ok := ranks[s]; ok {
		return int32(r)
	}
	return noRank
}

// TestRankTableMatchesLoader looks up every token of every encoding, and
// the byte strings next to it (one byte more, one less, the last one
// changed), in the rank table and in the loader's map.
func TestRankTableMatchesLoader(t *testing.T) {
	fixtures := loadBPEFixtures(t)
	for name, ranks := range loadLoaderRanks(t) {
		t.Run(name, func(t *testing.T) {
			table := fixtures[name].counter.ranks
			errs := 0
			check := func(s string) {
				if got, want := table.rank(s), wantRank(ranks, s); got != want && errs < 10 {
					errs++
					t.Errorf("rank(%q) = %d, want %d", s, got, want)
				}
			}
			for tok := range ranks {
				last := len(tok) - 1
				check(tok)
				check(tok[:last])
				check(tok[:last] + string(tok[last]^1))
				check(tok[:last] + string(tok[last]^0x80))
				check(tok + "\x00")
				check(tok + "s")
				check("\x00" + tok)
			}
		})
	}
}

// rankFile renders tokens as a tiktoken rank file, ranked in order.
func rankFile(tokens ...string) string {
	var b strings.Builder
	for r, tok := range tokens {
		fmt.Fprintf(&b, "%s %d\n", base64.StdEncoding.EncodeToString([]byte(tok)), r)
	}
	return b.String()
}

// TestRankTableTrickyTokens checks tokens that differ only in their
// length, in trailing zero bytes, or after their first 8 bytes, and a
// token of the longest length.
func TestRankTableTrickyTokens(t *testing.T) {
	long := strings.Repeat("x", maxTokenLen)
	tokens := []string{
		"a", "\x00", "ab", "a\x00", "\x00\x00", "abc", "abc\x00", "ab\x00", "\x00\x00\x00", "abcde", "abcd\x00",
		"abcdef", "abcdef\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj", "abcdefghijklmnopq",
		"abcdefghijklmnopr", "\x00\x00\x00\x00\x00\x00", long, long[1:],
	}
	table, err := loadRankTable(fstest.MapFS{"t.tiktoken": {Data: []byte(rankFile(tokens...))}}, "t.tiktoken")
	if err != nil {
		t.Fatal(err)
	}
	ranks := map[string]int{}
	for r, tok := range tokens {
		ranks[tok] = r
	}
	probes := append([]string{
		"b", "\x01", "ba", "a\x01", "abd", "abc\x00\x00", "abcd", "abcdefg", "abcdefghk", "abcdefghijklmnops",
		"\x00\x00\x00\x00", "\x00\x00\x00\x00\x00", long[2:], long + "x", "", "abcdefgh\x00\x00",
	}, tokens...)
	for _, s := range probes {
		if got, want := table.rank(s), wantRank(ranks, s); got != want {
			t.Errorf("rank(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestRankTableRanksInAnyOrder: the table takes ranks as the file says,
// in any order and with gaps.
func TestRankTableRanksInAnyOrder(t *testing.T) {
	file := "YQ== 7\nYWJjZGVmZ2g= 3\nYWI= 0\nYWJj 100000\n" // a, abcdefgh, ab, abc
	table, err := loadRankTable(fstest.MapFS{"t": {Data: []byte(file)}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"a": 7, "abcdefgh": 3, "ab": 0, "abc": 100000, "b": noRank, "abcd": noRank}
	for s, r := range want {
		if got := table.rank(s); got != r {
			t.Errorf("rank(%q) = %d, want %d", s, got, r)
		}
	}
}

func TestLoadRankTableErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"duplicate pair", rankFile("a", "ab", "ab"), `"ab" has ranks 1 and 2`},
		{"duplicate short token", rankFile("abc", "b", "abc"), `"abc" has ranks 0 and 2`},
		{"duplicate long token", rankFile("abcdefghij", "b", "abcdefghij"), `"abcdefghij" has ranks 0 and 2`},
		{"duplicate longest token", rankFile(strings.Repeat("x", maxTokenLen), "b", strings.Repeat("x", maxTokenLen)), "has ranks 0 and 2"},
		{"no rank", "YQ==\n", "t:1: not a token"},
		{"empty rank", "YQ== \n", "t:1: no rank"},
		{"bad rank", "YQ== 1x\n", `t:1: bad rank "1x"`},
		{"bad base64", "Y!== 1\n", `t:1: bad token "Y!=="`},
		{"empty token", " 1\n", `t:1: bad token ""`},
		{"token too long", rankFile(strings.Repeat("x", maxTokenLen+1)), "t:1: not a token of at most 255 bytes"},
		{"rank too large", fmt.Sprintf("YQ== %d\n", maxRank+1), "rank 2097151 too large"},
		{"rank overflows", "YQ== 99999999999999999999\n", "bad rank"},
		{"missing file", "", "open nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "t"
			if tc.file == "" {
				name = "nope"
			}
			_, err := loadRankTable(fstest.MapFS{"t": {Data: []byte(tc.file)}}, name)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadRankTable = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestRankTableSize: the table keeps none of the loader's text, only
// what it needs, about 20 bytes a token.
func TestRankTableSize(t *testing.T) {
	fixtures := loadBPEFixtures(t)
	for name, ranks := range loadLoaderRanks(t) {
		table := fixtures[name].counter.ranks
		size := 4*len(table.pairs) + 8*len(table.short) + 4*len(table.long) + len(table.records)
		if perToken := float64(size) / float64(len(ranks)); perToken > 22 {
			t.Errorf("%s: %d bytes, %.1f a token, want at most 22", name, size, perToken)
		}
	}
}

// FuzzRankTable compares the rank tables with the loader's maps on any
// byte string, valid UTF-8 or not.
func FuzzRankTable(f *testing.F) {
	for _, s := range []string{"a", "ab", "abc", " the", "hello", " world", "abcdefgh", "abcdefghijk", "\x00\xff", "日本語"} {
		f.Add(s)
	}
	fixtures := loadBPEFixtures(f)
	all := loadLoaderRanks(f)
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // never looked up: every piece has a byte
		}
		for _, name := range bpeTestEncodings {
			if got, want := fixtures[name].counter.ranks.rank(s), wantRank(all[name], s); got != want {
				t.Errorf("%s: rank(%q) = %d, want %d", name, s, got, want)
			}
		}
	})
}
