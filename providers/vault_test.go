package providers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
)

// uniq returns a fresh lower-case name, so that tests on the shared server,
// and repeated runs, never meet.
func uniq(prefix string) string { return prefix + "-" + strings.ToLower(rand.Text()[:8]) }

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// countingTransport counts the requests sent to Vault, and the KV v2 reads
// among them. While a gate is set, a KV read's answer waits for it.
type countingTransport struct {
	next    http.RoundTripper
	all, kv atomic.Int64
	gate    atomic.Pointer[chan struct{}]
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.all.Add(1)
	if !strings.Contains(r.URL.Path, "/data/") {
		return c.next.RoundTrip(r)
	}
	c.kv.Add(1)
	resp, err := c.next.RoundTrip(r)
	if g := c.gate.Load(); g != nil {
		<-*g
	}
	return resp, err
}

// closeGate sets a gate and returns the function that opens it.
func (c *countingTransport) closeGate() (open func()) {
	g := make(chan struct{})
	c.gate.Store(&g)
	return func() { c.gate.Store(nil); close(g) }
}

func (c *countingTransport) wrap(rt http.RoundTripper) http.RoundTripper { c.next = rt; return c }

func TestParseVaultRef(t *testing.T) {
	tests := []struct {
		ref     string
		want    vaultRef
		wantErr bool
	}{
		{ref: "vault:secret/llm/openai#api_key", want: vaultRef{path: "secret/llm/openai", field: "api_key"}},
		{ref: "vault:secret/llm/openai#api_key@3", want: vaultRef{path: "secret/llm/openai", field: "api_key", version: 3}},
		{ref: "vault:/kv/a/b/#key", want: vaultRef{path: "kv/a/b", field: "key"}},
		{ref: "vault:secret/x#a@b", wantErr: true},
		{ref: "vault:secret/x#key@0", wantErr: true},
		{ref: "vault:secret/x#key@-1", wantErr: true},
		{ref: "vault:secret/x#key@+1", wantErr: true},
		{ref: "vault:secret/x#@3", wantErr: true},
		{ref: "vault:secret/x", wantErr: true},
		{ref: "vault:secret/x#", wantErr: true},
		{ref: "vault:#key", wantErr: true},
		{ref: "vault:secret/../sys/x#key", wantErr: true},
		{ref: "vault:secret//x#key", wantErr: true},
		{ref: "vault:secret/x?version=2#key", wantErr: true},
		{ref: "env:secret/x#key", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := parseVaultRef(tt.ref)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseVaultRef(%q) error = %v, want error %v", tt.ref, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(vaultRef{})); diff != "" {
				t.Errorf("parseVaultRef(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

func TestVaultConfigRefused(t *testing.T) {
	const literal = "hvs.CAESIJlU2EXAMPLEONLY"
	tests := []struct {
		name string
		cfg  VaultConfig
		want string
	}{
		{"literal token", VaultConfig{Address: "https://v:8200", Auth: VaultAuth{Method: "token", Token: literal}}, "never a literal token"},
		{"no method", VaultConfig{Address: "https://v:8200"}, `auth method "" is not`},
		{"no address", VaultConfig{Auth: VaultAuth{Method: "token", Token: "env:T"}}, "address is required"},
		{"http off host", VaultConfig{Address: "http://vault.internal:8200", Auth: VaultAuth{Method: "token", Token: "env:T"}}, "only allowed to a loopback"},
		{"approle", VaultConfig{Address: "https://v:8200", Auth: VaultAuth{Method: "approle", RoleID: "r"}}, "role_id and secret_id_file"},
		{"kubernetes", VaultConfig{Address: "https://v:8200", Auth: VaultAuth{Method: "kubernetes"}}, "needs a role"},
		{"kv version", VaultConfig{Address: "https://v:8200", KVVersion: 3, Auth: VaultAuth{Method: "token", Token: "env:T"}}, "kv_version 3"},
		{"stale", VaultConfig{Address: "https://v:8200", CacheTTL: time.Hour, MaxStale: time.Minute, Auth: VaultAuth{Method: "token", Token: "env:T"}}, "max_stale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVault(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVault() error = %v, want one containing %q", err, tt.want)
			}
			assertNoSecrets(t, "error", err.Error(), literal)
		})
	}
}

// TestVaultClientEnvironment checks that VAULT_* variables reach the client
// only under UseEnvironment.
func TestVaultClientEnvironment(t *testing.T) {
	t.Setenv("VAULT_ADDR", "https://from-env:8200")
	t.Setenv("VAULT_TOKEN", "hvs.from-env")
	t.Setenv("VAULT_NAMESPACE", "env-ns")
	t.Setenv("VAULT_HEADERS", `{"X-From-Env":"1"}`)
	t.Setenv("VAULT_SKIP_VERIFY", "")
	base := VaultConfig{Address: "https://vault.internal:8200", RequestTimeout: time.Second}

	c, envToken, err := newVaultClient(base)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Address(), c.Token(), c.Namespace(), c.Headers().Get("X-From-Env"), envToken, c.Headers().Get(api.RequestHeaderName)}
	if diff := cmp.Diff([]string{"https://vault.internal:8200", "", "", "", "", "true"}, got); diff != "" {
		t.Errorf("client without UseEnvironment: address, token, namespace, header, env token, request header (-want +got):\n%s", diff)
	}

	env := base
	env.Address, env.UseEnvironment, env.Namespace = "", true, "cfg-ns"
	c, envToken, err = newVaultClient(env)
	if err != nil {
		t.Fatal(err)
	}
	got = []string{c.Address(), c.Token(), c.Namespace(), c.Headers().Get("X-From-Env"), envToken}
	if diff := cmp.Diff([]string{"https://from-env:8200", "", "cfg-ns", "1", "hvs.from-env"}, got); diff != "" {
		t.Errorf("client with UseEnvironment (-want +got):\n%s", diff)
	}

	t.Setenv("VAULT_SKIP_VERIFY", "true")
	if _, _, err := newVaultClient(env); err == nil || !strings.Contains(err.Error(), "refuses to skip TLS verification") {
		t.Errorf("VAULT_SKIP_VERIFY: error = %v, want a refusal", err)
	}
}

func TestNewVaultError(t *testing.T) {
	const secret = "s.secret-in-body"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"vault errors", &api.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}, "read x: vault answered 403 (1 error occurred: * permission denied)"},
		{"raw body", &api.ResponseError{StatusCode: 502, RawError: true, Errors: []string{`{"data":{"api_key":"` + secret + `"}}`}}, "read x: vault answered 502"},
		{"echoed credential", &api.ResponseError{StatusCode: 400, Errors: []string{"bad secret id " + secret}}, "read x: vault answered 400 (bad secret id [redacted])"},
		{"transport", fmt.Errorf("Get %q: %w", "http://127.0.0.1:1/v1/x", context.DeadlineExceeded), `read x: Get "http://127.0.0.1:1/v1/x": context deadline exceeded`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newVaultError("read x", tt.err, secret)
			if got := err.Error(); got != tt.want {
				t.Errorf("newVaultError() = %q, want %q", got, tt.want)
			}
		})
	}
	if err := newVaultError("read x", context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("newVaultError(DeadlineExceeded) does not wrap it: %v", err)
	}
}

func TestVaultKV(t *testing.T) {
	dv := sharedVault(t)
	dir, kv1 := uniq("kvtest"), uniq("kv1")
	keys := []string{"sk-kv2-first-0001", "sk-kv2-second-0002", "sk-kv1-only-0003"}
	dv.putKV2(t, "secret", dir+"/openai", map[string]any{"api_key": keys[0]})
	dv.putKV2(t, "secret", dir+"/openai", map[string]any{"api_key": keys[1], "org": "o"})
	dv.putKV2(t, "secret", dir+"/odd", map[string]any{"n": 5, "blank": " "})
	dv.write(t, "sys/mounts/"+kv1, map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	dv.write(t, kv1+"/llm/anthropic", map[string]any{"api_key": keys[2]})

	tests := []struct {
		ref, want string
		kvVersion int
	}{
		{ref: "vault:secret/" + dir + "/openai#api_key", want: keys[1]},
		{ref: "vault:secret/" + dir + "/openai#api_key@1", want: keys[0]},
		{ref: "vault:secret/" + dir + "/openai#api_key@2", want: keys[1]},
		{ref: "vault:secret/" + dir + "/openai#api_key@1", want: keys[0], kvVersion: 2},
		{ref: "vault:" + kv1 + "/llm/anthropic#api_key", want: keys[2]},
		{ref: "vault:" + kv1 + "/llm/anthropic#api_key", want: keys[2], kvVersion: 1},
		{ref: "vault:" + kv1 + "/llm/anthropic#api_key@1"},
		{ref: "vault:secret/" + dir + "/openai#api_key@7"},
		{ref: "vault:secret/" + dir + "/openai#missing"},
		{ref: "vault:secret/" + dir + "/none#api_key"},
		{ref: "vault:secret/" + dir + "/odd#n"},
		{ref: "vault:secret/" + dir + "/odd#blank"},
		{ref: "vault:nomount/x#api_key"},
		{ref: "vault:secret/" + dir + "/openai"},
	}
	sources := map[int]*Vault{}
	var logs []*syncBuffer
	for _, kv := range []int{0, 1, 2} {
		v, l := testVault(t, dv, VaultConfig{Auth: rootTokenAuth(t, dv), KVVersion: kv})
		sources[kv], logs = v, append(logs, l)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/kv%d", tt.ref, tt.kvVersion), func(t *testing.T) {
			v := sources[tt.kvVersion]
			for _, get := range []func(context.Context, string) (string, error){v.Key, v.Refresh, v.Key} {
				got, err := get(context.Background(), tt.ref)
				if tt.want == "" {
					if r := broker.ErrorReason(err); r != broker.ReasonUnavailable || !strings.Contains(broker.AsError(err).Msg, tt.ref) {
						t.Fatalf("got %q, %v; want an unavailable error naming the ref", got, err)
					}
					assertNoSecrets(t, "error", err.Error(), append(keys, dv.rootToken)...)
					continue
				}
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
			}
		})
	}
	for _, l := range logs {
		assertNoSecrets(t, "log", l.String(), append(keys, dv.rootToken)...)
	}
}

func TestVaultCache(t *testing.T) {
	dv := sharedVault(t)
	ref := "vault:secret/" + uniq("cache") + "/openai#api_key"
	path := strings.TrimSuffix(strings.TrimPrefix(ref, "vault:secret/"), "#api_key")
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-cache-1"})
	clock, ct := newFakeClock(), &countingTransport{}
	v, logs := testVault(t, dv, VaultConfig{Auth: rootTokenAuth(t, dv), CacheTTL: time.Minute, MaxStale: time.Hour,
		Now: clock.Now, wrapTransport: ct.wrap})
	ctx := context.Background()
	key := func(get func(context.Context, string) (string, error), want string, wantReads int64) {
		t.Helper()
		before := ct.kv.Load()
		got, err := get(ctx, ref)
		if err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
		if n := ct.kv.Load() - before; wantReads >= 0 && n != wantReads {
			t.Errorf("KV reads = %d, want %d", n, wantReads)
		}
	}
	key(v.Key, "sk-cache-1", 1)
	key(v.Key, "sk-cache-1", 0)
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-cache-2"})
	key(v.Key, "sk-cache-1", 0)     // fresh in the cache: Vault is not asked
	key(v.Refresh, "sk-cache-2", 1) // rotation: Refresh bypasses the cache
	key(v.Key, "sk-cache-2", 0)

	// Past three quarters of the TTL, the background loop re-reads it.
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-cache-3"})
	clock.Add(50 * time.Second)
	v.refreshDue()
	eventually(t, 5*time.Second, "background refresh", func() bool { got, _ := v.Key(ctx, ref); return got == "sk-cache-3" })

	// Past the TTL, Key serves the cached key at once and refreshes behind.
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-cache-4"})
	clock.Add(2 * time.Minute)
	open := ct.closeGate()
	key(v.Key, "sk-cache-3", -1) // returns although the read it started cannot finish
	open()
	eventually(t, 5*time.Second, "refresh behind a stale key", func() bool { got, _ := v.Key(ctx, ref); return got == "sk-cache-4" })

	if !strings.Contains(logs.String(), "vault key changed") {
		t.Errorf("no rotation in the log:\n%s", logs)
	}
	assertNoSecrets(t, "log", logs.String(), "sk-cache-1", "sk-cache-2", "sk-cache-3", "sk-cache-4", dv.rootToken)
}

// TestVaultRefreshCoalesced checks that concurrent Refresh calls share
// reads, and that each gets a read that started after it was called.
func TestVaultRefreshCoalesced(t *testing.T) {
	dv := sharedVault(t)
	path := uniq("coalesce") + "/openai"
	ref := "vault:secret/" + path + "#api_key"
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-co-1"})
	ct := &countingTransport{}
	v, _ := testVault(t, dv, VaultConfig{Auth: rootTokenAuth(t, dv), wrapTransport: ct.wrap})
	if _, err := v.Key(context.Background(), ref); err != nil {
		t.Fatal(err)
	}

	open := ct.closeGate()
	first := make(chan string, 1)
	go func() { k, _ := v.Refresh(context.Background(), ref); first <- k }()
	eventually(t, 5*time.Second, "first read blocked", func() bool { return ct.kv.Load() == 2 })
	dv.putKV2(t, "secret", path, map[string]any{"api_key": "sk-co-2"}) // rotated while a read is in flight

	const n = 20
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = v.Refresh(context.Background(), ref)
		}()
	}
	time.Sleep(200 * time.Millisecond) // for every Refresh to join
	open()
	wg.Wait()
	if k := <-first; k != "sk-co-1" {
		t.Errorf("first Refresh = %q, want sk-co-1", k)
	}
	for i, k := range got {
		if k != "sk-co-2" {
			t.Errorf("Refresh %d = %q, want sk-co-2 (a read started after it was called)", i, k)
		}
	}
	if reads := ct.kv.Load(); reads != 3 {
		t.Errorf("KV reads = %d, want 3 (one to fill the cache, the one in flight, one for the %d that waited)", reads, n)
	}
}

func TestVaultStopped(t *testing.T) {
	dv := ownVault(t)
	path := uniq("stop") + "/openai"
	ref := "vault:secret/" + path + "#api_key"
	const key = "sk-stopped-0123456789"
	dv.putKV2(t, "secret", path, map[string]any{"api_key": key})
	clock := newFakeClock()
	v, logs := testVault(t, dv, VaultConfig{Auth: rootTokenAuth(t, dv), CacheTTL: time.Minute, MaxStale: 10 * time.Minute,
		RequestTimeout: time.Second, Now: clock.Now})
	ctx := context.Background()
	if err := v.Check(ctx); err != nil {
		t.Fatalf("Check() with Vault up = %v", err)
	}
	if got, err := v.Key(ctx, ref); err != nil || got != key {
		t.Fatalf("Key() = %q, %v", got, err)
	}

	dv.stop()
	var errs []error
	var age time.Duration
	for _, step := range []time.Duration{0, 2 * time.Minute, 7 * time.Minute} {
		clock.Add(step)
		age += step
		if got, err := v.Key(ctx, ref); err != nil || got != key {
			t.Fatalf("Key() %s after the read, Vault down = %q, %v; want the cached key", age, got, err)
		}
	}
	_, err := v.Refresh(ctx, ref)
	errs = append(errs, err)
	errs = append(errs, v.Check(ctx))
	clock.Add(2 * time.Minute) // 11 minutes: past MaxStale
	_, err = v.Key(ctx, ref)
	errs = append(errs, err)
	_, err = v.Key(ctx, ref) // again, within vaultRetry: answered without trying Vault
	errs = append(errs, err)
	for i, err := range errs {
		if r := broker.ErrorReason(err); r != broker.ReasonUnavailable {
			t.Errorf("error %d = %v, want reason unavailable", i, err)
			continue
		}
		assertNoSecrets(t, "error", err.Error(), key, dv.rootToken)
	}
	if msg := broker.AsError(errs[2]).Msg; !strings.Contains(msg, ref) || !strings.Contains(msg, "older than 10m0s") {
		t.Errorf("error past MaxStale says %q, want the ref and the staleness", msg)
	}
	if msg := broker.AsError(errs[1]).Msg; msg != "vault is unreachable" {
		t.Errorf("Check() says %q, want vault is unreachable", msg)
	}
	assertNoSecrets(t, "log", logs.String(), key, dv.rootToken)
}
