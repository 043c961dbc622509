package filters

import (
	"encoding/base64"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

// Character sets for generated test tokens.
const (
	csUpperNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	csAlnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	csB64URL   = csAlnum + "_-"
	csB64      = csAlnum + "+/"
	csHexLower = "0123456789abcdef"
)

// tok returns a deterministic pseudo-random string of n bytes from set.
// Tests build their secrets with it so that the repository holds nothing a
// secret scanner would flag.
func tok(seed uint64, set string, n int) string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = set[r.IntN(len(set))]
	}
	// Make sure mixed-case rules see all classes.
	if n >= 3 && set == csAlnum {
		b[0], b[1], b[2] = 'Q', 'q', '7'
	}
	return string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// testKey is the fingerprint key of test scanners.
var testKey = []byte("test fingerprint key, 32 bytes!!")

func newTestScanner(t testing.TB, def Policy) *Scanner {
	t.Helper()
	o := Options{Default: def, FingerprintKey: testKey}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return New(o)
}

// rulesOf returns the sorted, distinct rules of the findings of type typ
// ("" for all).
func rulesOf(fs []broker.Finding, typ string) []string {
	var out []string
	for _, f := range fs {
		if typ == "" || f.Type == typ {
			out = append(out, f.Rule)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func mustRe(p string) *regexp.Regexp { return regexp.MustCompile(p) }

// templateClasses are the character classes of secret templates.
var templateClasses = map[byte]string{
	'a': csAlnum,
	'A': "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
	'l': "abcdefghijklmnopqrstuvwxyz0123456789",
	'L': "abcdefghijklmnopqrstuvwxyz",
	'U': "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	'X': "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	'h': csHexLower,
	'H': "0123456789ABCDEF",
	'd': "0123456789",
	'b': csB64URL,
	's': csB64,
	'w': csAlnum + "_",
	'z': "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
	'e': "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
}

// expandTemplate expands a secret template (see secretDef): {cN} becomes N
// random characters of class c, drawn from seed, and «» marks the secret,
// whose span it returns (-1, -1 when unmarked). Generated values hold at
// least one character of each kind their class has (upper case, lower
// case, digit), like real keys.
func expandTemplate(t string, seed uint64) (text string, start, end int) {
	r := rand.New(rand.NewPCG(seed, 0x7e4d))
	var b strings.Builder
	start, end = -1, -1
	for i := 0; i < len(t); {
		switch {
		case strings.HasPrefix(t[i:], "«"):
			start = b.Len()
			i += len("«")
			continue
		case strings.HasPrefix(t[i:], "»"):
			end = b.Len()
			i += len("»")
			continue
		case t[i] == '{':
			if j := strings.IndexByte(t[i:], '}'); j > 2 {
				if set, ok := templateClasses[t[i+1]]; ok {
					if n, err := strconv.Atoi(t[i+2 : i+j]); err == nil {
						b.WriteString(randomOf(r, set, n))
						i += j + 1
						continue
					}
				}
			}
		}
		b.WriteByte(t[i])
		i++
	}
	return b.String(), start, end
}

func randomOf(r *rand.Rand, set string, n int) string {
	v := make([]byte, n)
	for i := range v {
		v[i] = set[r.IntN(len(set))]
	}
	var kinds []func(byte) bool
	for _, k := range []func(byte) bool{isUpper, func(c byte) bool { return 'a' <= c && c <= 'z' }, isDigit} {
		if strings.IndexFunc(set, func(c rune) bool { return c < 128 && k(byte(c)) }) >= 0 {
			kinds = append(kinds, k)
		}
	}
	if n >= 8 && len(kinds) > 1 {
		for ki, k := range kinds {
			pos := ki * n / len(kinds)
			for !k(v[pos]) {
				v[pos] = set[r.IntN(len(set))]
			}
		}
	}
	return string(v)
}
