package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tokens of the bench server and of the admin API, known to both sides.
const (
	benchToken = "airlock-bench-server-token-0123456789abcdef"
	adminToken = "airlock-bench-admin-token-0123456789abcdef"
	benchID    = "bench"
)

// target is the broker under test: a subprocess, or the pipeline in this
// process.
type target struct {
	URL    string
	Kind   string
	Binary string
	pid    int        // the subprocess, 0 in-process
	sink   *stageSink // in-process only
	stop   func() error
	logs   *tail
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// buildAirlock compiles cmd/airlock into dir, as `go build` from the
// module would.
func buildAirlock(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "airlock")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/airlock-broker/airlock/cmd/airlock")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/airlock (run from the module, or pass -airlock): %w\n%s", err, out)
	}
	return bin, nil
}

// setup is what the broker under test is configured with.
type setup struct {
	upstreamURL string
	redis       string // address; empty: budgets in memory
	prefix      string // of the Redis keys
	holdTTL     time.Duration
	audit       bool     // an audit trail in a file next to the config
	env         []string // runtime settings of the subprocess
}

// brokerConfig is the broker's configuration: one server with a large
// budget and no rate limits, the default filter policy, budgets in Redis
// (or memory), the audit trail in auditPath (unless empty), warnings only
// in the log.
func brokerConfig(s setup, auditPath string) string {
	quota := ""
	if s.redis != "" || s.holdTTL > 0 {
		quota = "quota:\n"
	}
	if s.redis != "" {
		quota += fmt.Sprintf("  redis: {addrs: [%q], prefix: %q}\n", s.redis, s.prefix)
	}
	if s.holdTTL > 0 {
		quota += fmt.Sprintf("  hold_ttl: %s\n", s.holdTTL)
	}
	if auditPath != "" {
		quota += fmt.Sprintf("audit:\n  key: env:AUDIT_KEY\n  sinks:\n    - {kind: file, path: %q}\n", auditPath)
	}
	return fmt.Sprintf(`listen: 127.0.0.1:0
log: {format: json, level: warn}
limits: {max_in_flight: 1024}
providers:
  - name: up
    kind: openai
    base_url: %s/v1
    key: env:UPSTREAM_KEY
    max_retries: 0
models:
  - name: gpt-bench
    provider: up
    upstream: %s
    input_price: "1.00"
    output_price: "2.00"
%sadmin: {token_sha256: [%s]}
servers:
  - id: %s
    token_sha256: [%s]
    models: [gpt-bench]
    max_tokens: 1024
    budgets:
      - {period: day, usd: "1000000.00"}
`, s.upstreamURL, upstreamModel, quota, hashHex(adminToken), benchID, hashHex(benchToken))
}

var listeningRE = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// startSubprocess runs the airlock binary with a config for the upstream
// and waits until it is healthy and ready.
func startSubprocess(ctx context.Context, bin, dir string, s setup) (*target, error) {
	cfg := filepath.Join(dir, "airlock.yaml")
	auditPath := ""
	if s.audit {
		auditPath = filepath.Join(dir, "audit.jsonl")
	}
	if err := os.WriteFile(cfg, []byte(brokerConfig(s, auditPath)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-config", cfg)
	// A clean environment: no AIRLOCK_* override leaks in, only the
	// runtime settings of -broker-env.
	cmd.Env = append([]string{"UPSTREAM_KEY=" + brokerUpstreamKey, "AUDIT_KEY=bench-audit-key-0123456789abcdef"}, s.env...)
	logs := &tail{max: 64 << 10}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { exited <- cmd.Wait() }()
	t := &target{Kind: "subprocess", Binary: bin, pid: cmd.Process.Pid, logs: logs}
	t.stop = func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			return errors.New("broker did not stop within 15s of SIGTERM; killed")
		}
	}
	fail := func(err error) (*target, error) {
		t.stop()
		return nil, fmt.Errorf("%w\nbroker log: %s", err, logs.String())
	}
	select {
	case t.URL = <-urls:
	case err := <-exited:
		return nil, fmt.Errorf("broker exited at start: %v\nbroker log: %s", err, logs.String())
	case <-time.After(30 * time.Second):
		return fail(errors.New("broker did not print its address within 30s"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if err := waitOK(ctx, t.URL+path, 10*time.Second); err != nil {
			return fail(err)
		}
	}
	return t, nil
}

// waitOK polls url until it answers 200.
func waitOK(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s: not OK within %s: %v", url, within, last)
}

// rss returns the resident and peak resident memory of pid, in MB.
func rss(pid int) (cur, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &kb); err == nil {
			cur = kb / 1024
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %f kB", &kb); err == nil {
			peak = kb / 1024
		}
	}
	return cur, peak, nil
}

// usage reads the bench server's budget usage through the admin API.
func usage(ctx context.Context, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/admin/v1/servers/"+benchID+"/usage", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// deletePrefix removes every key under prefix, which only this run used.
func deletePrefix(ctx context.Context, addr, prefix string) (int, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	n := 0
	var cursor uint64
	for range 100000 { // bounded: far more batches than a run creates
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return n, err
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return n, err
			}
			n += len(keys)
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
	return n, errors.New("too many keys to delete")
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
