package broker

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzAppendJSONString checks the string encoder against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefg<", "<abcdefgh", "\x7f\x80", "é", "\u2028", "\xe2\x80", strings.Repeat("a", 8) + "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString([]byte("x"), s); !bytes.Equal(got[1:], want) {
			t.Errorf("string %q: got %s, want %s", s, got[1:], want)
		}
		if got := AppendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Errorf("bytes %q: got %s, want %s", s, got, want)
		}
	})
}

func TestAppendJSONStringEveryByte(t *testing.T) {
	// Each byte value at each offset of an 8-byte word, and across words.
	for c := range 256 {
		for off := range 17 {
			s := strings.Repeat("a", off) + string([]byte{byte(c)}) + strings.Repeat("b", 16-off)
			want, _ := json.Marshal(s)
			if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
				t.Fatalf("byte %#x at %d: got %s, want %s", c, off, got, want)
			}
		}
	}
}
