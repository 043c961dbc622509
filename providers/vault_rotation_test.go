package providers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVaultRotationThroughOpenAI rotates two keys in Vault, a provider's
// default and a server's pinned one, while requests flow through a real
// OpenAI provider to an upstream that accepts only the current keys: the
// provider's Refresh on 401 finds the new keys and no request fails.
func TestVaultRotationThroughOpenAI(t *testing.T) {
	dv := sharedVault(t)
	dir := uniq("rotation")
	defaultRef := "vault:secret/" + dir + "/openai#api_key"
	pinnedRef := "vault:secret/" + dir + "/server-a#api_key"
	dv.putKV2(t, "secret", dir+"/openai", map[string]any{"api_key": "sk-default-1"})
	dv.putKV2(t, "secret", dir+"/server-a", map[string]any{"api_key": "sk-pinned-1"})

	var mu sync.Mutex
	valid := map[string]bool{"sk-default-1": true, "sk-pinned-1": true}
	var refused atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		good := valid[key]
		mu.Unlock()
		if !good {
			refused.Add(1)
			reply(w, http.StatusUnauthorized, apiError("Incorrect API key provided: sk-****", "invalid_request_error", "invalid_api_key"))
			return
		}
		ok(w, r, n)
	})
	// A long TTL: only the provider's Refresh can find the new keys.
	v, logs := testVault(t, dv, VaultConfig{Auth: rootTokenAuth(t, dv), CacheTTL: time.Hour, MaxStale: 2 * time.Hour})
	o, _ := newTestOpenAI(t, u, Keys{"vault": v, "env": &Env{}}, func(c *OpenAIConfig) { c.KeyRef = defaultRef })

	ctx, stop := context.WithCancel(context.Background())
	var served, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				call := textCall("hello")
				if (w+i)%2 == 1 {
					call.KeyRef = pinnedRef // a server pinned to its own key
				}
				if _, err := o.Complete(context.Background(), call); err != nil {
					failed.Add(1)
					t.Errorf("request failed: %v", err)
					continue
				}
				served.Add(1)
			}
		}()
	}
	eventually(t, 10*time.Second, "requests before the rotation", func() bool { return served.Load() >= 20 })

	// Rotate as an operator does: the new keys go into Vault, then the
	// provider revokes the old ones.
	dv.putKV2(t, "secret", dir+"/openai", map[string]any{"api_key": "sk-default-2"})
	dv.putKV2(t, "secret", dir+"/server-a", map[string]any{"api_key": "sk-pinned-2"})
	mu.Lock()
	valid = map[string]bool{"sk-default-2": true, "sk-pinned-2": true}
	mu.Unlock()
	after := served.Load()
	eventually(t, 10*time.Second, "requests after the rotation", func() bool { return served.Load() >= after+40 })
	stop()
	wg.Wait()

	if failed.Load() != 0 || refused.Load() < 2 {
		t.Errorf("%d requests failed, %d refused by the upstream; want 0 failed and at least one refusal per key", failed.Load(), refused.Load())
	}
	saw := map[string]bool{}
	for _, r := range u.requests() {
		saw[r.Auth] = true
	}
	if !saw["Bearer sk-default-2"] || !saw["Bearer sk-pinned-2"] {
		t.Errorf("upstream never saw the new keys; saw %v", saw)
	}
	assertNoSecrets(t, "log", logs.String(), "sk-default-1", "sk-default-2", "sk-pinned-1", "sk-pinned-2", dv.rootToken)
}

// BenchmarkVaultKeyCached shows that Key on a fresh cached key makes no
// Vault round trip (vault-requests/op is 0), against Refresh, which makes
// one per call.
func BenchmarkVaultKeyCached(b *testing.B) {
	dv := sharedVault(b)
	path := uniq("bench") + "/openai"
	ref := "vault:secret/" + path + "#api_key"
	dv.putKV2(b, "secret", path, map[string]any{"api_key": "sk-bench"})
	ct := &countingTransport{}
	v, _ := testVault(b, dv, VaultConfig{Auth: rootTokenAuth(b, dv), wrapTransport: ct.wrap})
	ctx := context.Background()
	if _, err := v.Key(ctx, ref); err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name string
		get  func(context.Context, string) (string, error)
	}{{"Key", v.Key}, {"Refresh", v.Refresh}} {
		b.Run(bb.name, func(b *testing.B) {
			before, n := ct.all.Load(), 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bb.get(ctx, ref); err != nil {
					b.Fatal(err)
				}
				n++
			}
			reqs := ct.all.Load() - before
			b.ReportMetric(float64(reqs)/float64(n), "vault-requests/op")
			if bb.name == "Key" && reqs != 0 {
				b.Errorf("Key on a fresh cached key made %d Vault requests", reqs)
			}
		})
	}
}
