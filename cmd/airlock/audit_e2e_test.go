package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditEndToEnd: requests through the running broker are audited to
// a file and a Redis stream, readable through the admin API, verifiable
// with the CLI, and counted in /metrics; a failing audit refuses requests.
func TestAuditEndToEnd(t *testing.T) {
	up := newUpstream(t)
	addr := redisAddr(t)
	stream := uniquePrefix(t, addr) + "audit"
	dir := t.TempDir()
	trail := filepath.Join(dir, "audit.jsonl")
	const adminToken = "admin-token-0123456789"
	cfg := writeConfig(t, e2eConfig(up.URL)+fmt.Sprintf(`
    audit_text: true
admin:
  token_sha256: [%s]
audit:
  key: env:AUDIT_KEY
  chain: e2e-1
  sinks:
    - {kind: file, path: %s}
    - {kind: redis, stream: %s, redis: {addrs: [%s]}, async: true}
`, hashHex(adminToken), trail, stream, addr))
	env := map[string]string{"UPSTREAM_KEY": "sk-upstream-test-key-1", "AUDIT_KEY": testAuditKey}
	base, _, stderr := startAirlock(t, []string{"serve", "-config", cfg}, env)

	body := `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"mail jane@example.com"}}],"maxTokens":20}}`
	if code, out := post(t, base+"/v1/sampling", e2eToken, "", body); code != 200 {
		t.Fatalf("sampling: %d %v", code, out)
	}
	if code, _ := post(t, base+"/v1/sampling", "wrong-token", "", body); code != 401 {
		t.Fatalf("unauthenticated: %d", code)
	}
	data, _ := os.ReadFile(trail)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"decision":"served"`) || !strings.Contains(lines[1], `"reason":"unauthenticated"`) {
		t.Fatalf("trail:\n%s", data)
	}
	if strings.Contains(string(data), "jane@example.com") || !strings.Contains(lines[0], `"sanitizedPrompt"`) {
		t.Errorf("the trail holds the raw address, or no sanitized prompt:\n%s", lines[0])
	}

	get := func(path, token string) (int, string) {
		r, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/admin/v1/audit", ""); code != 401 {
		t.Errorf("audit API without the admin token: %d", code)
	}
	var code int
	var page string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, page = get("/admin/v1/audit?server=tools-server", adminToken); strings.Contains(page, `"seq":1`) {
			break
		}
	}
	if code != 200 || !strings.Contains(page, `"seq":1`) || strings.Contains(page, `"seq":2`) {
		t.Errorf("GET /admin/v1/audit?server=tools-server: %d %s", code, page)
	}
	if code, cp := get("/admin/v1/audit/checkpoint", adminToken); code != 200 || !strings.Contains(cp, `"chain":"e2e-1","seq":2`) {
		t.Errorf("checkpoint: %d %s", code, cp)
	}
	if code, m := get("/metrics", ""); code != 200 || !strings.Contains(m, `airlock_requests_total{decision="served",reason="",server="tools-server"} 1`) ||
		!strings.Contains(m, `airlock_requests_total{decision="refused",reason="unauthenticated",server=""} 1`) ||
		!strings.Contains(m, `airlock_findings_total{rule="email",stage="input",type="pii"} 1`) {
		t.Errorf("metrics: %d\n%s", code, m)
	}
	for _, sink := range []string{"0", "1"} {
		out, err := runAuditEnv(t, env, "verify", "-config", cfg, "-sink", sink)
		if err != nil || !strings.Contains(out, "chain e2e-1: seq 1 to 2, 2 records: ok") {
			t.Errorf("verify sink %s: %v\n%s", sink, err, out)
		}
	}
	_ = stderr
}

// TestAuditFailsClosed: with its audit stream down, the broker refuses
// requests, unless told to fail open.
func TestAuditFailsClosed(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprint("fail_open=", failOpen), func(t *testing.T) {
			up := newUpstream(t)
			addr, stop := privateRedis(t)
			cfg := writeConfig(t, e2eConfig(up.URL)+fmt.Sprintf(`
audit:
  key: env:AUDIT_KEY
  fail_open: %v
  sinks: [{kind: redis, stream: audit, redis: {addrs: [%s]}}]
`, failOpen, addr))
			env := map[string]string{"UPSTREAM_KEY": "sk-upstream-test-key-1", "AUDIT_KEY": testAuditKey}
			base, _, stderr := startAirlock(t, []string{"serve", "-config", cfg}, env)
			body := `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":20}}`
			if code, out := post(t, base+"/v1/sampling", e2eToken, "", body); code != 200 {
				t.Fatalf("sampling with the stream up: %d %v", code, out)
			}
			stop()
			want := 503
			if failOpen {
				want = 200
			}
			code, out := post(t, base+"/v1/sampling", e2eToken, "", body)
			if code != want {
				t.Errorf("sampling with the stream down: %d %v, want %d", code, out, want)
			}
			if !strings.Contains(stderr.String(), "audit write failed") {
				t.Errorf("no audit failure logged:\n%s", stderr.String())
			}
		})
	}
}

func runAuditEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out strings.Builder
	err := run(t.Context(), append([]string{"audit"}, args...), strings.NewReader(""), &out, &out, func(k string) string { return env[k] })
	return out.String(), err
}
