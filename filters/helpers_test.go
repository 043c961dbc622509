package filters

import (
	"encoding/base64"
	"math/rand/v2"
	"regexp"
	"slices"
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
