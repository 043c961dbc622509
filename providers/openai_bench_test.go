package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

// benchPrompt returns about n bytes of the mix the load harness sends:
// prose, code, JSON and log lines, with quotes, angle brackets, tabs and
// some non-ASCII text, which the encoder has to escape or decode.
func benchPrompt(n int) string {
	chunks := []string{
		"The release notes below describe what changed between the two versions of the service. " +
			"Summarize them for an operator who must decide whether to upgrade this week, and list " +
			"anything that needs a configuration change first. Keep the answer under 200 words.\n\n",
		"func (s *Store) Reserve(ctx context.Context, id string, n int64) (Hold, error) {\n" +
			"\tif n <= 0 {\n\t\treturn Hold{}, fmt.Errorf(\"reserve %q: n = %d\", id, n)\n\t}\n" +
			"\treturn s.reserve(ctx, id, n, s.Now().Add(s.ttl))\n}\n\n",
		`{"server":"docs-search","budget":{"period":"day","micro_usd":2500000},"tools":["search","fetch"],` +
			`"limits":{"max_tokens":1024,"rate":"10/s"},"note":"<b>beta</b> & experimental"}` + "\n\n",
		"2025-03-09T14:02:11.482Z INFO request served id=req_7f3a status=200 dur=812ms model=gpt-4o-mini tokens=412\n" +
			"2025-03-09T14:02:11.913Z WARN upstream slow id=req_7f3b retry=1 after=250ms\n\n",
		"Les résumés doivent rester courts ; les opérateurs lisent ces notes — souvent à 3 h du matin.\n\n",
	}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(chunks[i%len(chunks)])
	}
	return b.String()
}

// benchAnswer is a chat.completion with a ~700-byte answer, as OpenAI sends it.
func benchAnswer() string {
	answer := strings.Repeat("Upgrade after changing the budget period; the rest is compatible. ", 10)
	return strings.Replace(chatJSON(`{"role":"assistant","content":"`+answer+`","refusal":null,"annotations":[]}`, "stop"),
		`"cached_tokens":0`, `"cached_tokens":128`, 1)
}

func benchCall(promptBytes int) *broker.Call {
	return &broker.Call{
		RequestID: "req-bench",
		Model:     broker.Model{Name: "mini", Upstream: "gpt-4o-mini"},
		Params: &broker.CreateMessageParams{
			SystemPrompt: "You are a concise assistant for site reliability engineers.",
			Messages:     []broker.SamplingMessage{user(text(benchPrompt(promptBytes)))},
			Temperature:  ptr(0.0),
			MaxTokens:    512,
		},
	}
}

var benchSizes = []struct {
	name  string
	bytes int
}{{"2KB", 2 << 10}, {"32KB", 32 << 10}}

// BenchmarkOpenAICompleteSize measures Complete against a zero-latency
// upstream on loopback, for a 2 KB and a 32 KB prompt. The figures include
// the upstream's side of the exchange.
//
//	go test ./providers -run '^$' -bench OpenAICompleteSize -count 5
func BenchmarkOpenAICompleteSize(b *testing.B) {
	answer := []byte(benchAnswer())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		w.Write(answer)
	}))
	defer srv.Close()
	o, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", KeyRef: "env:K"}, staticKeys(testKey))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			call := benchCall(size.bytes)
			b.SetBytes(int64(size.bytes))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.Complete(ctx, call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenAIEncode compares the request's encoding alone: go-openai's
// types marshalled by encoding/json, with the old temperature patch
// (legacy), and the direct encoder into a pooled buffer.
//
//	go test ./providers -run '^$' -bench OpenAIEncode -count 5
func BenchmarkOpenAIEncode(b *testing.B) {
	o, err := NewOpenAI(OpenAIConfig{}, staticKeys(testKey))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range benchSizes {
		call := benchCall(size.bytes)
		b.Run("legacy/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.bytes))
			b.ReportAllocs()
			for b.Loop() {
				req, err := legacyRequest(o, call)
				if err != nil {
					b.Fatal(err)
				}
				body, err := json.Marshal(req)
				if err != nil {
					b.Fatal(err)
				}
				legacyWithZeroTemperature(body)
			}
		})
		b.Run("direct/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(size.bytes))
			b.ReportAllocs()
			for b.Loop() {
				r, err := o.newChatRequest(call)
				if err != nil || r.refusal != nil {
					b.Fatal(err, r.refusal)
				}
			}
		})
	}
}

// BenchmarkOpenAIDecode compares decoding the answer alone: go-openai's
// ChatCompletionResponse and the old fill (legacy), and the minimal struct.
//
//	go test ./providers -run '^$' -bench OpenAIDecode -count 5
func BenchmarkOpenAIDecode(b *testing.B) {
	o, err := NewOpenAI(OpenAIConfig{}, staticKeys(testKey))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(benchAnswer())
	p := &broker.CreateMessageParams{}
	b.Run("legacy", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := legacyDecode(o, body, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("minimal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newDecode(o, body, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
