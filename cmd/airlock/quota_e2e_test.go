package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisAddr returns the test Redis, or skips: scripts/test.sh starts one.
func redisAddr(t testing.TB) string {
	addr := os.Getenv("AIRLOCK_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Skipf("redis not reachable at %s (%v): run scripts/test.sh, which starts it", addr, err)
	}
	c.Close()
	return addr
}

// uniquePrefix isolates a test's keys and deletes them afterwards.
func uniquePrefix(t testing.TB, addr string) string {
	var b [6]byte
	rand.Read(b[:])
	prefix := "airlock-test-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// budgetConfig: output tokens only are priced, and the upstream always
// reports maxTokens completion tokens, so every request really costs its
// worst case (100 tokens at $1/M = 100 µUSD) and a budget of K×100 µUSD
// fits exactly K requests.
func budgetConfig(upstreamURL, redisAddrs, prefix string, k int) string {
	return fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
admin: {token_sha256: [%s]}
quota:
  redis: {addrs: [%s], prefix: "%s"}
providers:
  - {name: up, kind: openai, base_url: "%s/v1", key: env:UPSTREAM_KEY, max_retries: 0}
models:
  - {name: m, provider: up, input_price: "0", output_price: "1.00"}
servers:
  - id: payer
    token_sha256: [%s]
    models: [m]
    budgets: [{period: lifetime, usd: "%s"}]
`, hashHex("admin-token"), redisAddrs, prefix, upstreamURL, hashHex(e2eToken), microToUSD(int64(k)*100))
}

func microToUSD(micro int64) string { return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6) }

func fullCostUpstream(t testing.TB) *upstream {
	up := newUpstream(t)
	up.reply = func(w http.ResponseWriter, body map[string]any) {
		max := body["max_tokens"]
		fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":%v,"total_tokens":107}}`, max)
	}
	return up
}

const budgetBody = `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"spend"}}],"maxTokens":100}}`

// fire sends n concurrent requests spread over bases and counts outcomes.
func fire(t *testing.T, bases []string, n int) map[string]int {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequest("POST", bases[i%len(bases)]+"/v1/sampling", strings.NewReader(budgetBody))
			r.Header.Set("Authorization", "Bearer "+e2eToken)
			resp, err := client.Do(r)
			outcome := "transport error"
			if err == nil {
				var out struct {
					Error *struct {
						Data struct{ Reason string } `json:"data"`
					} `json:"error"`
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				json.Unmarshal(raw, &out)
				outcome = fmt.Sprint(resp.StatusCode)
				if out.Error != nil {
					outcome += " " + out.Error.Data.Reason
				}
			}
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return counts
}

// spent returns the payer's spend today once every hold is settled: the
// broker settles after answering, so the last settlements may still be
// on their way when the last response arrives.
func spent(t *testing.T, base string) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := http.NewRequest("GET", base+"/admin/v1/servers/payer/usage", nil)
		r.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			Periods []struct {
				Spent    struct{ MicroUSD float64 }
				Reserved struct{ MicroUSD float64 }
			}
		}
		json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if len(u.Periods) == 0 {
			t.Fatalf("usage has no periods (status %d)", resp.StatusCode)
		}
		p := u.Periods[0]
		if p.Reserved.MicroUSD == 0 {
			return p.Spent.MicroUSD
		}
		if time.Now().After(deadline) {
			t.Errorf("reserved %v µUSD 10 s after all requests ended", p.Reserved.MicroUSD)
			return p.Spent.MicroUSD
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBudgetExactUnderConcurrency(t *testing.T) {
	const n, k = 1000, 37
	addr := redisAddr(t)
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			up := fullCostUpstream(t)
			cfg := writeConfig(t, budgetConfig(up.URL, addr, uniquePrefix(t, addr), k))
			var bases []string
			for range replicas {
				base, _, _ := startAirlock(t, []string{"serve", "-config", cfg}, map[string]string{"UPSTREAM_KEY": "k"})
				bases = append(bases, base)
			}
			counts := fire(t, bases, n)
			want := map[string]int{"200": k, "429 budget_exceeded": n - k}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("outcomes %v, want %v", counts, want)
			}
			if got, _ := up.requests(); len(got) != k {
				t.Errorf("upstream called %d times, want %d", len(got), k)
			}
			if s := spent(t, bases[0]); s != k*100 {
				t.Errorf("spent %v µUSD, want exactly %d", s, k*100)
			}
		})
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	up := fullCostUpstream(t)
	cfg := writeConfig(t, budgetConfig(up.URL, closed, "x:", 10))
	base, _, _ := startAirlock(t, []string{"serve", "-config", cfg}, map[string]string{"UPSTREAM_KEY": "k"})
	counts := fire(t, []string{base}, 5)
	if want := map[string]int{"503 unavailable": 5}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("with Redis down: %v, want %v", counts, want)
	}
	if got, _ := up.requests(); len(got) != 0 {
		t.Errorf("upstream called %d times with Redis down", len(got))
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz with Redis down: %d", resp.StatusCode)
	}
}

// privateRedis starts a redis-server of the test's own on a free loopback
// port, so that the test can stop it; it skips when redis-server is absent.
func privateRedis(t *testing.T) (addr string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed: run scripts/test.sh, which installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop
		}
	}
	t.Fatal("private redis did not start")
	return "", nil
}

func TestRedisStoppedMidRun(t *testing.T) {
	addr, stop := privateRedis(t)
	up := fullCostUpstream(t)
	base, _, _ := startAirlock(t, []string{"serve", "-config", writeConfig(t, budgetConfig(up.URL, addr, "mid:", 100))}, map[string]string{"UPSTREAM_KEY": "k"})
	if counts := fire(t, []string{base}, 3); counts["200"] != 3 {
		t.Fatalf("with Redis up: %v", counts)
	}
	stop()
	if counts := fire(t, []string{base}, 5); fmt.Sprint(counts) != fmt.Sprint(map[string]int{"503 unavailable": 5}) {
		t.Errorf("after Redis stopped: %v, want 5 × 503 unavailable", counts)
	}
	if got, _ := up.requests(); len(got) != 3 {
		t.Errorf("upstream called %d times, want only the 3 made while Redis was up", len(got))
	}
}

func TestBudgetCLI(t *testing.T) {
	up := fullCostUpstream(t)
	base, _, _ := startAirlock(t, []string{"serve", "-config", writeConfig(t, strings.Replace(budgetConfig(up.URL, "x", "x", 5), "  redis: {addrs: [x], prefix: \"x\"}\n", "", 1))}, map[string]string{"UPSTREAM_KEY": "k"})
	env := map[string]string{"AIRLOCK_URL": base, "AIRLOCK_ADMIN_TOKEN": "admin-token"}
	cli := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"budget"}, args...), nil, &out, io.Discard, func(k string) string { return env[k] })
		return out.String(), err
	}
	if out, err := cli("get", "-server", "payer"); err != nil || !strings.Contains(out, `"source": "config"`) {
		t.Fatalf("get: %v %s", err, out)
	}
	if _, err := cli("set", "-server", "payer", "-budget", "lifetime:0.000150", "-rpm", "100"); err != nil {
		t.Fatal("set:", err)
	}
	// 150 µUSD fits one 100 µUSD request, not two.
	if counts := fire(t, []string{base}, 1); counts["200"] != 1 {
		t.Fatalf("first request under the override: %v", counts)
	}
	if counts := fire(t, []string{base}, 1); counts["429 budget_exceeded"] != 1 {
		t.Errorf("second request under the override: %v", counts)
	}
	out, err := cli("usage", "-server", "payer")
	if err != nil || !strings.Contains(out, `"microUSD": 100`) {
		t.Errorf("usage: %v %s", err, out)
	}
	if out, err := cli("delete", "-server", "payer"); err != nil || !strings.Contains(out, `"source": "config"`) {
		t.Errorf("delete: %v %s", err, out)
	}
	if _, err := cli("set", "-server", "payer", "-budget", "fortnight:1"); err == nil {
		t.Error("an unknown period was accepted")
	}
	env["AIRLOCK_ADMIN_TOKEN"] = "wrong"
	if _, err := cli("get", "-server", "payer"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong admin token: %v", err)
	}
}
