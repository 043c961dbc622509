package providers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

func TestVaultAppRole(t *testing.T) {
	dv := sharedVault(t)
	ctx := context.Background()

	t.Run("secret ID file", func(t *testing.T) {
		mount := uniq("approle")
		roleID := dv.enableAppRole(t, mount, map[string]any{"token_ttl": "1h"})
		sid := dv.secretID(t, mount, false)
		dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-approle-file"})
		v, logs := testVault(t, dv, VaultConfig{Auth: VaultAuth{Method: "approle", Mount: mount, RoleID: roleID,
			SecretIDFile: writeFile(t, "secret-id", sid)}})
		if got, err := v.Key(ctx, "vault:secret/"+mount+"/openai#api_key"); err != nil || got != "sk-approle-file" {
			t.Fatalf("Key() = %q, %v", got, err)
		}
		assertNoSecrets(t, "log", logs.String(), sid, v.client.Token(), "sk-approle-file")
	})

	t.Run("wrapped secret ID", func(t *testing.T) {
		mount := uniq("approle")
		roleID := dv.enableAppRole(t, mount, map[string]any{"token_ttl": "1h"})
		wrapped := dv.secretID(t, mount, true)
		sidFile := writeFile(t, "secret-id", wrapped)
		dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-approle-wrapped"})
		v, logs := testVault(t, dv, VaultConfig{Auth: VaultAuth{Method: "approle", Mount: mount, RoleID: roleID,
			SecretIDFile: sidFile, SecretIDWrapped: true}})
		ref := "vault:secret/" + mount + "/openai#api_key"
		if got, err := v.Key(ctx, ref); err != nil || got != "sk-approle-wrapped" {
			t.Fatalf("Key() = %q, %v", got, err)
		}
		// The wrapping token is spent: a new login uses the unwrapped ID,
		// until the file holds a new wrapping token.
		for i, rewrap := range []bool{false, true} {
			if rewrap {
				wrapped = dv.secretID(t, mount, true)
				if err := os.WriteFile(sidFile, []byte(wrapped), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := v.reauth(ctx, v.auth.gen.Load(), true); err != nil {
				t.Fatalf("login %d: %v", i+2, err)
			}
			if got, err := v.Refresh(ctx, ref); err != nil || got != "sk-approle-wrapped" {
				t.Fatalf("Refresh() after login %d = %q, %v", i+2, got, err)
			}
		}
		if v.auth.wrapped != wrapped {
			t.Errorf("the new wrapping token was not unwrapped")
		}
		assertNoSecrets(t, "log", logs.String(), wrapped, v.auth.secretID, v.client.Token())
	})

	t.Run("wrapped something else", func(t *testing.T) {
		mount := uniq("approle")
		roleID := dv.enableAppRole(t, mount, map[string]any{})
		c, err := dv.root.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(dv.rootToken)
		c.SetWrappingLookupFunc(func(string, string) string { return "60s" })
		s, err := c.Logical().Write("sys/wrapping/wrap", map[string]any{"secret_id": "not-from-approle"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewVault(ctx, VaultConfig{Address: dv.addr, Auth: VaultAuth{Method: "approle", Mount: mount, RoleID: roleID,
			SecretIDFile: writeFile(t, "secret-id", s.WrapInfo.Token), SecretIDWrapped: true}})
		if err == nil || !strings.Contains(err.Error(), "does not wrap a secret ID") {
			t.Fatalf("NewVault() error = %v, want a refusal of the wrapping token", err)
		}
		assertNoSecrets(t, "error", err.Error(), s.WrapInfo.Token)
	})
}

// TestVaultTokenRenewal watches a token whose TTL is 3s outlive it, renewed
// by the LifetimeWatcher, without a new login.
func TestVaultTokenRenewal(t *testing.T) {
	dv := sharedVault(t)
	short := map[string]any{"token_ttl": "3s", "token_max_ttl": "30s"}
	tests := []struct {
		name string
		auth func(t *testing.T, mount string) VaultAuth
	}{
		{"approle", func(t *testing.T, mount string) VaultAuth {
			roleID := dv.enableAppRole(t, mount, short)
			return VaultAuth{Method: "approle", Mount: mount, RoleID: roleID, SecretIDFile: writeFile(t, "sid", dv.secretID(t, mount, false))}
		}},
		{"token", func(t *testing.T, mount string) VaultAuth {
			dv.policy(t, mount)
			s := dv.write(t, "auth/token/create", map[string]any{"ttl": "3s", "explicit_max_ttl": "30s", "policies": []string{mount}})
			return VaultAuth{Method: "token", Token: "file:" + writeFile(t, "token", s.Auth.ClientToken)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mount := uniq("renew")
			auth := tt.auth(t, mount)
			dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-renewed"})
			start := time.Now()
			v, logs := testVault(t, dv, VaultConfig{Auth: auth})
			token := v.client.Token()
			eventually(t, 8*time.Second, "token renewal", func() bool { return strings.Contains(logs.String(), "vault token renewed") })
			time.Sleep(time.Until(start.Add(4 * time.Second))) // past the first TTL
			if _, err := dv.root.Logical().Write("auth/token/lookup", map[string]any{"token": token}); err != nil {
				t.Fatalf("the token expired: %v", err)
			}
			if got, err := v.Refresh(context.Background(), "vault:secret/"+mount+"/openai#api_key"); err != nil || got != "sk-renewed" {
				t.Fatalf("Refresh() = %q, %v", got, err)
			}
			if v.client.Token() != token || strings.Count(logs.String(), `msg="vault login"`) != 1 {
				t.Errorf("logged in again instead of renewing:\n%s", logs)
			}
			assertNoSecrets(t, "log", logs.String(), token)
		})
	}
}

// TestVaultRelogin revokes Airlock's token: the next read, or Check, logs
// in again with AppRole.
func TestVaultRelogin(t *testing.T) {
	dv := sharedVault(t)
	ctx := context.Background()
	mount := uniq("approle")
	roleID := dv.enableAppRole(t, mount, map[string]any{"token_ttl": "1h"})
	sid := dv.secretID(t, mount, false)
	ref := "vault:secret/" + mount + "/openai#api_key"
	dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-relogin-1"})
	v, logs := testVault(t, dv, VaultConfig{Auth: VaultAuth{Method: "approle", Mount: mount, RoleID: roleID,
		SecretIDFile: writeFile(t, "secret-id", sid)}})
	if got, err := v.Key(ctx, ref); err != nil || got != "sk-relogin-1" {
		t.Fatalf("Key() = %q, %v", got, err)
	}

	tokens := []string{v.client.Token()}
	dv.write(t, "auth/token/revoke", map[string]any{"token": tokens[0]})
	dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-relogin-2"})
	if got, err := v.Refresh(ctx, ref); err != nil || got != "sk-relogin-2" {
		t.Fatalf("Refresh() with a revoked token = %q, %v; want a new login and the key", got, err)
	}
	tokens = append(tokens, v.client.Token())
	if err := v.Check(ctx); err != nil || tokens[1] == tokens[0] {
		t.Fatalf("after the new login: Check() = %v, token changed %v", err, tokens[1] != tokens[0])
	}

	dv.write(t, "auth/token/revoke", map[string]any{"token": tokens[1]})
	err := v.Check(ctx)
	if broker.ErrorReason(err) != broker.ReasonUnavailable {
		t.Fatalf("Check() with a revoked token = %v, want unavailable", err)
	}
	eventually(t, 5*time.Second, "login after Check", func() bool { return v.Check(ctx) == nil })
	tokens = append(tokens, v.client.Token())
	if n := strings.Count(logs.String(), `msg="vault login"`); n != 3 {
		t.Errorf("%d logins, want 3:\n%s", n, logs)
	}
	assertNoSecrets(t, "log and errors", logs.String()+err.Error(), append(tokens, sid, roleID, "sk-relogin-1", "sk-relogin-2")...)
}

// TestVaultKubernetes logs in with the Kubernetes auth method. The minimal
// Vault build lacks it, so the dev server runs HashiCorp's external plugin
// (scripts/install-vault-k8s-plugin.sh). The plugin checks the JWT with the
// Kubernetes TokenReview API, which an httptest server stands in for.
func TestVaultKubernetes(t *testing.T) {
	dv := sharedVault(t)
	if dv.pluginDir == "" {
		t.Skip(k8sPlugin + " not found: run scripts/install-vault-k8s-plugin.sh (scripts/test.sh does)")
	}
	ctx := context.Background()
	jwt := serviceAccountJWT(t, "uid-1")
	var reviews atomic.Int64
	k8s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" || r.Header.Get("Authorization") != "Bearer reviewer-jwt" ||
			json.Unmarshal(b, &tr) != nil {
			http.Error(w, `{"kind":"Status","status":"Failure","code":401}`, http.StatusUnauthorized)
			return
		}
		reviews.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":`+
			map[bool]string{true: "true", false: "false"}[tr.Spec.Token == jwt]+
			`,"user":{"username":"system:serviceaccount:llm:airlock","uid":"uid-1"}}}`)
	}))
	t.Cleanup(k8s.Close)

	bin, err := os.ReadFile(filepath.Join(dv.pluginDir, k8sPlugin))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	dv.write(t, "sys/plugins/catalog/auth/"+k8sPlugin, map[string]any{"sha256": hex.EncodeToString(sum[:]), "command": k8sPlugin})
	mount := uniq("k8s")
	dv.write(t, "sys/auth/"+mount, map[string]any{"type": k8sPlugin})
	dv.write(t, "auth/"+mount+"/config", map[string]any{"kubernetes_host": k8s.URL, "disable_local_ca_jwt": true,
		"token_reviewer_jwt": "reviewer-jwt", "disable_iss_validation": true})
	dv.policy(t, mount)
	dv.write(t, "auth/"+mount+"/role/airlock", map[string]any{"bound_service_account_names": "airlock",
		"bound_service_account_namespaces": "llm", "token_policies": mount, "token_ttl": "1h"})
	dv.putKV2(t, "secret", mount+"/openai", map[string]any{"api_key": "sk-k8s"})

	v, logs := testVault(t, dv, VaultConfig{Auth: VaultAuth{Method: "kubernetes", Mount: mount, Role: "airlock",
		JWTFile: writeFile(t, "token", jwt)}})
	if got, err := v.Key(ctx, "vault:secret/"+mount+"/openai#api_key"); err != nil || got != "sk-k8s" {
		t.Fatalf("Key() = %q, %v", got, err)
	}
	if reviews.Load() != 1 {
		t.Errorf("%d token reviews, want 1", reviews.Load())
	}
	assertNoSecrets(t, "log", logs.String(), jwt, v.client.Token(), "sk-k8s")

	// A JWT the TokenReview API does not know is refused, and not repeated.
	other := serviceAccountJWT(t, "uid-1")
	_, err = NewVault(ctx, VaultConfig{Address: dv.addr, Auth: VaultAuth{Method: "kubernetes", Mount: mount, Role: "airlock",
		JWTFile: writeFile(t, "other", other)}})
	if err == nil || !strings.Contains(err.Error(), "vault answered 403") {
		t.Fatalf("NewVault() with an unknown JWT: error = %v, want a 403", err)
	}
	assertNoSecrets(t, "error", err.Error(), other)
}

// serviceAccountJWT returns a pod's legacy service-account token for
// llm/airlock, signed with a throwaway ES256 key (the plugin verifies
// signatures only when given keys; the TokenReview API vouches for it).
func serviceAccountJWT(t *testing.T, uid string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{
		"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:llm:airlock", "jti": rand.Text(),
		"kubernetes.io/serviceaccount/namespace":            "llm",
		"kubernetes.io/serviceaccount/service-account.name": "airlock",
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
		"kubernetes.io/serviceaccount/secret.name":          "airlock-token",
	})
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	h := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig)
}
