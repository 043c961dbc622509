package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// Keys resolves a key reference by its scheme, the part before the first
// colon: Keys{"env": &Env{}, "file": &File{}} resolves "env:OPENAI_API_KEY"
// with the Env source. Each source receives the whole reference.
//
// Key and Refresh return a *broker.Error with ReasonUnavailable when the
// scheme is unknown, the source fails or the key is empty; the message may
// name the reference, never the key.
type Keys map[string]broker.KeySource

var (
	_ broker.KeySource = Keys(nil)
	_ broker.KeySource = (*Env)(nil)
	_ broker.KeySource = (*File)(nil)
)

// Key implements broker.KeySource.
func (k Keys) Key(ctx context.Context, ref string) (string, error) {
	src, err := k.source(ref)
	if err != nil {
		return "", err
	}
	return checkKey(ref, src.Key)(ctx)
}

// Refresh implements broker.KeySource.
func (k Keys) Refresh(ctx context.Context, ref string) (string, error) {
	src, err := k.source(ref)
	if err != nil {
		return "", err
	}
	return checkKey(ref, src.Refresh)(ctx)
}

func (k Keys) source(ref string) (broker.KeySource, error) {
	scheme, _, ok := strings.Cut(ref, ":")
	if !ok || !isScheme(scheme) {
		// Whatever was configured here is not a reference: it may be a
		// pasted key, so it is not repeated.
		return nil, broker.Errorf(broker.ReasonUnavailable, "key reference has no scheme (want env:NAME or file:/path)")
	}
	src := k[scheme]
	if src == nil {
		return nil, broker.Errorf(broker.ReasonUnavailable, "key reference scheme %q is not configured", scheme)
	}
	return src, nil
}

// isScheme reports whether s looks like a scheme, not like part of a key.
func isScheme(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// checkKey calls get and turns its failures into safe unavailable errors.
func checkKey(ref string, get func(context.Context, string) (string, error)) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		key, err := get(ctx, ref)
		var e *broker.Error
		switch {
		case errors.As(err, &e):
			return "", err
		case err != nil:
			return "", broker.Wrap(broker.ReasonUnavailable, err, fmt.Sprintf("key %s is unavailable", ref))
		case key == "":
			return "", broker.Errorf(broker.ReasonUnavailable, "key %s is empty", ref)
		}
		return key, nil
	}
}

// Env resolves "env:NAME" references from the process environment. The
// environment is read on every call, so Refresh is the same as Key.
type Env struct {
	// LookupEnv reads a variable; tests inject one. Default os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Key implements broker.KeySource. It returns a *broker.Error with
// ReasonUnavailable when the variable is unset or blank.
func (e *Env) Key(_ context.Context, ref string) (string, error) {
	name, ok := strings.CutPrefix(ref, "env:")
	if !ok || name == "" {
		return "", broker.Errorf(broker.ReasonUnavailable, "key reference is not env:NAME")
	}
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", broker.Errorf(broker.ReasonUnavailable, "key %s is not set", ref)
	}
	return v, nil
}

// Refresh implements broker.KeySource.
func (e *Env) Refresh(ctx context.Context, ref string) (string, error) {
	return e.Key(ctx, ref)
}

// maxKeyFile caps what File reads: a key is a line, not a document.
const maxKeyFile = 64 << 10

// File resolves "file:/path" references to the file's content without its
// surrounding whitespace, as mounted secrets (Docker, Kubernetes) provide
// them. It caches each key for TTL so that a busy broker does not read the
// file per request; Refresh always re-reads. The zero value works; a File
// must not be copied after first use.
type File struct {
	// TTL is how long a key is served from cache. Default 30s.
	TTL time.Duration
	// Now returns the current time; tests inject one. Default time.Now.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     string
	expires time.Time
}

// Key implements broker.KeySource. It returns a *broker.Error with
// ReasonUnavailable when the file cannot be read or is blank.
func (f *File) Key(ctx context.Context, ref string) (string, error) {
	now := f.now()
	f.mu.Lock()
	c, ok := f.cache[ref]
	f.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	return f.Refresh(ctx, ref)
}

// Refresh implements broker.KeySource.
func (f *File) Refresh(_ context.Context, ref string) (string, error) {
	path, ok := strings.CutPrefix(ref, "file:")
	if !ok || path == "" {
		return "", broker.Errorf(broker.ReasonUnavailable, "key reference is not file:/path")
	}
	key, err := readKeyFile(path)
	if err != nil {
		// The *PathError names the path and the cause, never the content.
		return "", broker.Wrap(broker.ReasonUnavailable, err, fmt.Sprintf("key %s is unavailable", ref))
	}
	if key == "" {
		return "", broker.Errorf(broker.ReasonUnavailable, "key %s is empty", ref)
	}
	ttl := f.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	f.mu.Lock()
	if f.cache == nil {
		f.cache = make(map[string]cachedKey)
	}
	f.cache[ref] = cachedKey{key: key, expires: f.now().Add(ttl)}
	f.mu.Unlock()
	return key, nil
}

func (f *File) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func readKeyFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxKeyFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxKeyFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxKeyFile)
	}
	return strings.TrimSpace(string(b)), nil
}
