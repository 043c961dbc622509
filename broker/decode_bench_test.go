package broker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// benchProse is what prompts are made of: prose, code, JSON and log lines,
// with the quotes, newlines and non-ASCII letters that JSON must escape or
// carry.
var benchProse = []string{
	"The quarterly report shows steady growth in all regions, with the strongest gains in the north.",
	"The café on the ground floor will close early on Friday for the annual inventory.",
	"func (s *Store) Get(ctx context.Context, id string) (*Item, error) { return s.items[id], nil }",
	"for i, line := range strings.Split(text, \"\\n\") { counts[line]++; last = i }",
	`{"order": 1042, "status": "shipped", "items": [{"sku": "B-17", "qty": 3}], "priority": "normal"}`,
	"2025-11-24T09:12:44Z WARN queue depth above soft limit depth=1290 limit=1000",
	"The naïve approach recomputes the index on every write, which is why the benchmark regressed.",
	"SELECT region, SUM(amount) FROM sales WHERE year = 2024 GROUP BY region ORDER BY 2 DESC;",
}

// benchText returns about n bytes of prose.
func benchText(n, seed int) string {
	var b strings.Builder
	for i := seed; b.Len() < n; i++ {
		b.WriteString(benchProse[i%len(benchProse)])
		if i%5 == 0 {
			b.WriteString("\n\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// benchBody returns a sampling request of about size bytes as an MCP host
// sends it: a system prompt, a short exchange, and a last user turn that
// holds most of the text.
func benchBody(size int) []byte {
	msg := func(role, text string) map[string]any {
		return map[string]any{"role": role, "content": map[string]any{"type": "text", "text": text}}
	}
	body := func(last int) []byte {
		b, err := json.Marshal(map[string]any{
			"jsonrpc": "2.0",
			"id":      42,
			"method":  MethodCreateMessage,
			"params": map[string]any{
				"messages": []any{
					msg("user", benchText(200, 0)),
					msg("assistant", benchText(300, 3)),
					msg("user", benchText(last, 5)),
				},
				"systemPrompt":     "You are a careful assistant. Answer briefly and cite the data you were given.",
				"modelPreferences": map[string]any{"hints": []any{map[string]any{"name": "claude-3-5-sonnet"}}, "intelligencePriority": 0.8, "speedPriority": 0.3},
				"includeContext":   "none",
				"temperature":      0.2,
				"maxTokens":        512,
				"stopSequences":    []string{"\n\nHuman:"},
				"metadata":         map[string]any{"session": "c0ffee", "turn": 3},
			},
		})
		if err != nil {
			panic(err)
		}
		return b
	}
	b := body(0)
	return body(size - len(b))
}

var benchSizes = []struct {
	name string
	size int
}{{"2KB", 2 << 10}, {"32KB", 32 << 10}, {"256KB", 256 << 10}}

// BenchmarkDecodeRequest measures DecodeRequest on well-formed bodies, and
// the careful path alone (what every body went through before the one-pass
// reader) on the same bodies, in the same run.
func BenchmarkDecodeRequest(b *testing.B) {
	for _, s := range benchSizes {
		body := benchBody(s.size)
		if _, _, err := DecodeRequest(body, LatestVersion, Limits{}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("size=%s", s.name), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				DecodeRequest(body, LatestVersion, Limits{})
			}
		})
		b.Run(fmt.Sprintf("size=%s/careful", s.name), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if checkJSON(body, Limits{}.WithDefaults()) == nil {
					decodeCareful(body, LatestVersion)
				}
			}
		})
	}
}
