package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSamplingPath measures the whole request path through the broker
// (HTTP, decode, validate, policy, scan, reserve, OpenAI provider, settle)
// against a zero-latency local upstream, and in the same loop the same
// upstream called directly with an equivalent chat request. Reported:
// broker and direct p50/p99 and the added latency at p50/p99, in µs.
func BenchmarkSamplingPath(b *testing.B) {
	up := newUpstream(b)
	cfg := writeConfig(b, strings.Replace(e2eConfig(up.URL), "level: debug", "level: error", 1))
	base, _, _ := startAirlock(b, []string{"serve", "-config", cfg}, map[string]string{"UPSTREAM_KEY": "sk-bench"})

	prompt := strings.Repeat("The quarterly report shows steady growth in all regions. ", 36) // ~2 KB
	brokerBody := `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"` + prompt + `"}}],"maxTokens":64}}`
	direct, _ := json.Marshal(map[string]any{
		"model":      "gpt-test-upstream",
		"messages":   []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": 64,
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	do := func(url, auth string, body []byte) time.Duration {
		r, _ := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader(string(body)))
		r.Header.Set("Authorization", "Bearer "+auth)
		r.Header.Set("Content-Type", "application/json")
		t := time.Now()
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return d
	}
	// Warm both connections.
	do(up.URL+"/v1/chat/completions", "sk-bench", direct)
	do(base+"/v1/sampling", e2eToken, []byte(brokerBody))

	viaBroker := make([]time.Duration, 0, b.N)
	viaDirect := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		viaDirect = append(viaDirect, do(up.URL+"/v1/chat/completions", "sk-bench", direct))
		viaBroker = append(viaBroker, do(base+"/v1/sampling", e2eToken, []byte(brokerBody)))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Microseconds())
	}
	b.ReportMetric(pct(viaDirect, 0.50), "direct-p50-µs")
	b.ReportMetric(pct(viaDirect, 0.99), "direct-p99-µs")
	b.ReportMetric(pct(viaBroker, 0.50), "broker-p50-µs")
	b.ReportMetric(pct(viaBroker, 0.99), "broker-p99-µs")
	b.ReportMetric(pct(viaBroker, 0.50)-pct(viaDirect, 0.50), "added-p50-µs")
	b.ReportMetric(pct(viaBroker, 0.99)-pct(viaDirect, 0.99), "added-p99-µs")
}
