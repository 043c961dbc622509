package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-broker/airlock/audit"
	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/providers"
)

const testAuditKey = "audit-test-key-0123456789abcdef"

func auditEnv(k string) string {
	if k == "AIRLOCK_AUDIT_KEY" {
		return testAuditKey
	}
	return ""
}

func auditEvent(i int) *broker.Event {
	e := &broker.Event{
		ID: fmt.Sprintf("req-%03d", i), Time: time.Date(2025, 6, 1, 12, 0, i, 0, time.UTC),
		Server: []string{"alpha", "beta"}[i%2], Version: broker.LatestVersion, Method: broker.MethodCreateMessage,
		Model: "gpt-4o-mini", Decision: broker.DecisionServed, PromptTokens: 10, CompletionTokens: 5, SettledMicroUSD: 7,
	}
	if i%3 == 0 {
		e.Decision, e.Reason = broker.DecisionBlocked, broker.ReasonInjectionDetected
	}
	return e
}

// record writes events from..to through a chain on sinks, then closes it.
func record(t *testing.T, from, to int, sinks ...audit.Sink) {
	t.Helper()
	c, err := audit.NewChain(context.Background(), "web-1", []byte(testAuditKey), sinks, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i <= to; i++ {
		if err := c.Record(context.Background(), auditEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileTrail writes events 1..n to a new file sink and returns its path.
func fileTrail(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, 1, n, f)
	return path
}

func appendTrail(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, from, to, f)
}

func runAudit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := auditCmd(context.Background(), args, &out, &errOut, auditEnv)
	return out.String() + errOut.String(), err
}

// lineSeqs returns the seq of each record line of out.
func lineSeqs(t *testing.T, out string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		r, err := audit.ParseRecord([]byte(l))
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

func TestAuditVerifyCommand(t *testing.T) {
	path := fileTrail(t, 10)
	out, err := runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY")
	if err != nil || !strings.Contains(out, "chain web-1: seq 1 to 10, 10 records: ok") || !strings.Contains(out, "verified") {
		t.Fatalf("verify of an intact trail: %v\n%s", err, out)
	}

	// Someone turns a blocked request into a served one.
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	lines[5] = strings.Replace(lines[5], `"decision":"blocked"`, `"decision":"served"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	out, err = runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY")
	if err == nil {
		t.Fatalf("verify passed an edited trail:\n%s", out)
	}
	for _, want := range []string{"FAILS first at audit.jsonl:6: chain web-1 seq 6: modified", "FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _ = runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY", "-json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != audit.Modified {
		t.Errorf("-json report: %v\n%s", err, out)
	}
}

// TestAuditCheckpointCommand: a checkpoint taken earlier catches the
// truncation that the trail alone cannot show.
func TestAuditCheckpointCommand(t *testing.T) {
	path := fileTrail(t, 6)
	out, err := runAudit(t, "checkpoint", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY")
	if err != nil {
		t.Fatal(err, out)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	// Checkpoints may sit among other log lines.
	os.WriteFile(cpFile, []byte(`{"level":"INFO","msg":"airlock listening"}`+"\n"+out), 0o600)
	var cp audit.Checkpoint
	if err := json.Unmarshal([]byte(out), &cp); err != nil || cp.Chain != "web-1" || cp.Seq != 6 {
		t.Fatalf("checkpoint %q: %v", out, err)
	}
	appendTrail(t, path, 7, 8)
	if out, err := runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY", "-checkpoint", cpFile); err != nil {
		t.Fatalf("verify against an older checkpoint: %v\n%s", err, out)
	}
	// The last three records go.
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte(strings.Join(lines[:5], "")), 0o600)
	if out, err := runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY"); err != nil {
		t.Fatalf("without a checkpoint a truncation cannot show: %v\n%s", err, out)
	}
	out, err = runAudit(t, "verify", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY", "-checkpoint", cpFile)
	if err == nil || !strings.Contains(out, "chain web-1 seq 6: truncated") {
		t.Errorf("verify against the checkpoint: %v\n%s", err, out)
	}
	// No checkpoint of a tampered trail.
	lines[1] = strings.Replace(lines[1], `"server":"alpha"`, `"server":"beta"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
	if out, err := runAudit(t, "checkpoint", "-file", path, "-key-ref", "env:AIRLOCK_AUDIT_KEY"); err == nil {
		t.Errorf("checkpoint of a tampered trail:\n%s", out)
	}
}

func TestAuditQueryTailExport(t *testing.T) {
	path := fileTrail(t, 10)
	out, err := runAudit(t, "query", "-file", path, "-server", "beta", "-decision", "served")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 5, 7}, lineSeqs(t, out)); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	out, _ = runAudit(t, "query", "-file", path, "-reason", "injection_detected", "-since", "2025-06-01T12:00:04Z", "-until", "2025-06-01T12:00:09Z")
	if diff := cmp.Diff([]uint64{6}, lineSeqs(t, out)); diff != "" {
		t.Errorf("query by reason and time (-want +got):\n%s", diff)
	}
	out, _ = runAudit(t, "query", "-file", path, "-limit", "2")
	if diff := cmp.Diff([]uint64{1, 2}, lineSeqs(t, out)); diff != "" {
		t.Errorf("query -limit (-want +got):\n%s", diff)
	}
	out, _ = runAudit(t, "tail", "-file", path, "-n", "3")
	if diff := cmp.Diff([]uint64{8, 9, 10}, lineSeqs(t, out)); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	out, err = runAudit(t, "export", "-file", path)
	if err != nil {
		t.Fatal(err)
	}
	exported := filepath.Join(t.TempDir(), "export.jsonl")
	os.WriteFile(exported, []byte(out), 0o600)
	if out, err := runAudit(t, "verify", "-file", exported, "-key-ref", "env:AIRLOCK_AUDIT_KEY"); err != nil || !strings.Contains(out, "10 records") {
		t.Errorf("verify of the export: %v\n%s", err, out)
	}
}

func TestAuditTailFollow(t *testing.T) {
	path := fileTrail(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- auditCmd(ctx, []string{"tail", "-file", path, "-n", "1", "-f", "-interval", "10ms"}, out, io.Discard, auditEnv)
	}()
	waitFor := func(s string) {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), s) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(`"seq":3`)
	appendTrail(t, path, 4, 5)
	waitFor(`"seq":5`)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{3, 4, 5}, lineSeqs(t, out.String())); diff != "" {
		t.Errorf("tail -f (-want +got):\n%s", diff)
	}
}

func TestAuditRedisSource(t *testing.T) {
	addr := redisAddr(t)
	stream := uniquePrefix(t, addr) + "audit"
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	record(t, 1, 5, audit.NewRedisStream(c, stream, audit.RedisOptions{}))
	out, err := runAudit(t, "verify", "-redis", addr, "-stream", stream, "-key-ref", "env:AIRLOCK_AUDIT_KEY")
	if err != nil || !strings.Contains(out, "seq 1 to 5") {
		t.Errorf("verify: %v\n%s", err, out)
	}
	out, _ = runAudit(t, "query", "-redis", addr, "-stream", stream, "-server", "alpha")
	if diff := cmp.Diff([]uint64{2, 4}, lineSeqs(t, out)); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}

// TestAuditFromConfig wires the trail from an audit section as serve
// would, records through it, and reads it back with the CLI, the admin
// handler and the metrics.
func TestAuditFromConfig(t *testing.T) {
	dir := t.TempDir()
	addr := redisAddr(t)
	stream := uniquePrefix(t, addr) + "audit"
	cfgPath := filepath.Join(dir, "airlock.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
listen: 127.0.0.1:0
quota:
  redis:
    addrs: [%s]
audit:
  key: env:AIRLOCK_AUDIT_KEY
  chain: web-7
  sinks:
    - kind: file
      path: %s
      max_bytes: 100000
      keep: 3
    - kind: redis
      stream: %s
      maxlen: 1000
      async: true
`, addr, filepath.Join(dir, "audit.jsonl"), stream)), 0o600)
	var cf struct {
		Audit AuditConf `yaml:"audit"`
		Quota QuotaConf `yaml:"quota"`
	}
	data, _ := os.ReadFile(cfgPath)
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	if err := cf.Audit.validate((&Config{}).checkRef); err != nil {
		t.Fatal(err)
	}
	keys := providers.Keys{"env": &providers.Env{LookupEnv: func(k string) (string, bool) { v := auditEnv(k); return v, v != "" }}}
	a, err := buildAudit(context.Background(), cf.Audit, cf.Quota.Redis, keys, nil, nil, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if err := a.Sink.Record(context.Background(), auditEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if cp := a.Chain.Checkpoint(); cp.Chain != "web-7" || cp.Seq != 4 {
		t.Errorf("checkpoint %+v", cp)
	}
	// The handler reads the stream, which follows the file within
	// milliseconds.
	rec := httptest.NewRecorder()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rec = httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/?decision=blocked", nil))
		if strings.Contains(rec.Body.String(), `"seq":3`) {
			break
		}
	}
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"seq":3`) || strings.Contains(rec.Body.String(), `"seq":2`) {
		t.Errorf("admin handler: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	a.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `airlock_requests_total{decision="blocked",reason="injection_detected",server="beta"} 1`) {
		t.Errorf("metrics lack the blocked request:\n%.2000s", rec.Body)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"0", "1"} {
		out, err := runAudit(t, "verify", "-config", cfgPath, "-sink", sink)
		if err != nil || !strings.Contains(out, "chain web-7: seq 1 to 4, 4 records: ok") {
			t.Errorf("verify -config -sink %s: %v\n%s", sink, err, out)
		}
	}
}

func TestAuditCommandErrors(t *testing.T) {
	path := fileTrail(t, 2)
	const pasted = "sk-live-0123456789abcdef0123456789"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"verify", "-key-ref", "env:AIRLOCK_AUDIT_KEY"}, "no audit trail"},
		{"no key", []string{"verify", "-file", path}, "no audit key"},
		{"a key instead of a reference", []string{"verify", "-file", path, "-key-ref", pasted}, "reference"},
		{"short key", []string{"verify", "-file", path, "-key-ref", "env:SHORT"}, "key"},
		{"bad time", []string{"query", "-file", path, "-since", "yesterday"}, "-since"},
		{"unknown command", []string{"rewrite", "-file", path}, "unknown audit command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runAudit(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q\n%s", err, tt.want, out)
			}
			if err != nil && strings.Contains(err.Error()+out, pasted) {
				t.Errorf("the pasted key was repeated: %v", err)
			}
		})
	}
	if _, err := runAudit(t); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("no arguments: %v, want the usage", err)
	}
}

func TestAuditConfValidate(t *testing.T) {
	tests := []struct {
		name string
		ac   AuditConf
		want []string
	}{
		{"none", AuditConf{}, nil},
		{"complete", AuditConf{Key: "env:K", Sinks: []AuditSinkConf{{Kind: "file", Path: "/var/log/airlock/audit.jsonl"}, {Kind: "redis", Async: true}, {Kind: "stdout"}}}, nil},
		{"no key", AuditConf{Sinks: []AuditSinkConf{{Kind: "stdout"}}}, []string{"audit.key"}},
		{"pasted key", AuditConf{Key: "0123456789abcdef0123", Sinks: []AuditSinkConf{{Kind: "stdout"}}}, []string{"audit.key"}},
		{"everything wrong", AuditConf{Key: "env:K", Chain: "web 1", Sinks: []AuditSinkConf{
			{Kind: "file"}, {Kind: "kafka"}, {Kind: "redis", Async: true, MaxLen: -1, Redis: &RedisConf{Password: "hunter2"}},
		}}, []string{"audit.chain", "sinks[0]: path", "sinks[1]: kind", "sinks[2]: redis.password", "sinks[2]: sizes"}},
		{"async only", AuditConf{Key: "env:K", Sinks: []AuditSinkConf{{Kind: "redis", Async: true}}}, []string{"must not be async"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ac.validate((&Config{}).checkRef)
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestServeMetrics(t *testing.T) {
	m := audit.NewMetrics(audit.MetricsOptions{})
	m.Observe(auditEvent(3))
	addr, shutdown, err := serveMetrics("127.0.0.1:0", m.Handler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `airlock_requests_total{decision="blocked",reason="injection_detected",server="beta"} 1`) {
		t.Errorf("GET /metrics: %d\n%.1000s", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+addr+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
	}
	if _, _, err := serveMetrics("not an address", m.Handler(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("serveMetrics accepted a bad address")
	}
}
