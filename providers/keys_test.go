package providers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// fakeKeys is a key source whose behaviour each test sets.
type fakeKeys struct {
	KeyFn     func(ctx context.Context, ref string) (string, error)
	RefreshFn func(ctx context.Context, ref string) (string, error)
}

var _ broker.KeySource = (*fakeKeys)(nil)

func (f *fakeKeys) Key(ctx context.Context, ref string) (string, error) { return f.KeyFn(ctx, ref) }

func (f *fakeKeys) Refresh(ctx context.Context, ref string) (string, error) {
	return f.RefreshFn(ctx, ref)
}

// staticKeys returns a source that always answers key.
func staticKeys(key string) *fakeKeys {
	get := func(context.Context, string) (string, error) { return key, nil }
	return &fakeKeys{KeyFn: get, RefreshFn: get}
}

// failingKeys returns a source that always fails with err.
func failingKeys(err error) *fakeKeys {
	get := func(context.Context, string) (string, error) { return "", err }
	return &fakeKeys{KeyFn: get, RefreshFn: get}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "openai")
	if err := os.WriteFile(keyFile, []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENAI_API_KEY": "sk-from-env\n", "BLANK": "  "}
	keys := Keys{
		"env":  &Env{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		"file": &File{},
		"bad":  failingKeys(errors.New("store down")),
		"nil":  staticKeys(""),
	}
	tests := []struct {
		ref     string
		want    string
		wantMsg string // substring of the error; "" for success
	}{
		{ref: "env:OPENAI_API_KEY", want: "sk-from-env"},
		{ref: "file:" + keyFile, want: "sk-from-file"},
		{ref: "env:MISSING", wantMsg: "key env:MISSING is not set"},
		{ref: "env:BLANK", wantMsg: "key env:BLANK is not set"},
		{ref: "env:", wantMsg: "not env:NAME"},
		{ref: "file:" + filepath.Join(dir, "missing"), wantMsg: "is unavailable"},
		{ref: "file:" + blank, wantMsg: "is empty"},
		{ref: "vault:secret/llm#key", wantMsg: `scheme "vault" is not configured`},
		{ref: "sk-proj-pasted-key", wantMsg: "has no scheme"},
		{ref: "sk-proj:pasted-key", wantMsg: "has no scheme"},
		{ref: "bad:x", wantMsg: "key bad:x is unavailable"},
		{ref: "nil:x", wantMsg: "key nil:x is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			for name, get := range map[string]func(context.Context, string) (string, error){"Key": keys.Key, "Refresh": keys.Refresh} {
				got, err := get(context.Background(), tt.ref)
				if tt.wantMsg == "" {
					if err != nil || got != tt.want {
						t.Errorf("%s = %q, %v; want %q", name, got, err, tt.want)
					}
					continue
				}
				if got := broker.ErrorReason(err); got != broker.ReasonUnavailable {
					t.Errorf("%s reason = %q (%v), want %q", name, got, err, broker.ReasonUnavailable)
				}
				if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s error = %q, want it to contain %q", name, err, tt.wantMsg)
				}
				if err != nil && strings.Contains(err.Error(), "pasted") {
					t.Errorf("%s error %q repeats what may be a key", name, err)
				}
			}
		})
	}
}

func TestFileCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1_700_000_000, 0)
	f := &File{TTL: time.Minute, Now: func() time.Time { return now }}
	ref := "file:" + path
	ctx := context.Background()
	get := func(fn func(context.Context, string) (string, error)) string {
		t.Helper()
		k, err := fn(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	write("old\n")
	steps := []struct {
		name    string
		do      func()
		get     func(context.Context, string) (string, error)
		wantKey string
	}{
		{"first read", func() {}, f.Key, "old"},
		{"cached after rotation", func() { write("new") }, f.Key, "old"},
		{"refresh re-reads", func() {}, f.Refresh, "new"},
		{"cached after refresh", func() { write("newer") }, f.Key, "new"},
		{"expired", func() { now = now.Add(2 * time.Minute) }, f.Key, "newer"},
	}
	for _, s := range steps {
		s.do()
		if got := get(s.get); got != s.wantKey {
			t.Errorf("%s: key = %q, want %q", s.name, got, s.wantKey)
		}
	}
}

func TestFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	big := strings.Repeat("k", maxKeyFile+1)
	if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (&File{}).Key(context.Background(), "file:"+path)
	if got := broker.ErrorReason(err); got != broker.ReasonUnavailable {
		t.Fatalf("reason = %q (%v), want unavailable", got, err)
	}
	if strings.Contains(err.Error(), "kkkk") {
		t.Errorf("error %q holds the file content", err)
	}
}
