package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
	"github.com/airlock-broker/airlock/providers"
	"github.com/airlock-broker/airlock/quota"
)

// The end-to-end tests run the whole broker in process, wired as
// cmd/airlock's build wires it, in front of an OpenAI-compatible upstream.

const (
	alphaToken = "alpha-server-token-0123456789"
	betaToken  = "beta-server-token-0123456789"
)

// testModel is the one model; the upstream always reports usagePrompt and
// usageCompletion tokens, so every served request costs the same.
var testModel = broker.Model{
	Name: "gpt-test", Provider: "up", Upstream: "gpt-test-upstream",
	InputPrice: 1_000_000, OutputPrice: 2_000_000, // $1 and $2 per million tokens
}

const (
	usagePrompt     = 21
	usageCompletion = 7
)

// upstream is an OpenAI-compatible chat completions server. It records the
// request bodies, and answers by mentioning the first placeholder of the
// prompt, so that restoration shows in the result.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
}

var placeholderRE = regexp.MustCompile(`\[EMAIL_\d+\]`)

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.bodies = append(u.bodies, body)
		u.mu.Unlock()
		answer := "Done."
		if ph := placeholderRE.FindString(string(raw)); ph != "" {
			answer = "I will write to " + ph + "."
		}
		text, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1732400000,"model":"gpt-test-upstream","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			text, usagePrompt, usageCompletion, usagePrompt+usageCompletion)
	}))
	t.Cleanup(u.Close)
	return u
}

// requests returns the bodies the upstream received so far.
func (u *upstream) requests() []map[string]any {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]map[string]any(nil), u.bodies...)
}

// airlock is a running broker with two servers, alpha and beta.
type airlock struct {
	URL   string
	quota *quota.Store
	up    *upstream
}

func startAirlock(t testing.TB) *airlock {
	t.Helper()
	up := newUpstream(t)
	prov, err := providers.NewOpenAI(providers.OpenAIConfig{Name: "up", BaseURL: up.URL + "/v1", MaxRetries: 0}, providers.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	budget := broker.ServerLimits{Budgets: []broker.Budget{{Period: "lifetime", MicroUSD: 1_000_000}}}
	store := quota.NewMemory(map[string]broker.ServerLimits{"alpha": budget, "beta": budget}, quota.Options{})
	server := func(id, token string) *broker.Server {
		return &broker.Server{
			ID:          id,
			TokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte(token))},
			Policy:      broker.Policy{Models: []string{testModel.Name}, MaxTokens: 64},
		}
	}
	b, err := broker.New(
		[]*broker.Server{server("alpha", alphaToken), server("beta", betaToken)},
		[]broker.Model{testModel},
		map[string]broker.Provider{"up": prov},
		broker.Options{Quota: store, Scanner: filters.New(filters.Options{})},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler(broker.HTTPOptions{}))
	t.Cleanup(srv.Close)
	return &airlock{URL: srv.URL, quota: store, up: up}
}

// spent returns what server has been charged in its lifetime, and for how
// many requests, once its holds are settled: the broker settles after
// answering, so the last settlement may still be on its way.
func (a *airlock) spent(t testing.TB, server string) (microUSD, requests int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		usage, err := a.quota.Usage(context.Background(), server, 0)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(usage, func(u broker.PeriodUsage) bool { return u.Period == "lifetime" })
		if i < 0 {
			t.Fatalf("%s: no lifetime period in %+v", server, usage)
		}
		u := usage[i]
		if u.Reserved == (broker.Charge{}) || time.Now().After(deadline) {
			if u.Reserved != (broker.Charge{}) {
				t.Errorf("%s: %+v still reserved 10 s later", server, u.Reserved)
			}
			return u.Spent.MicroUSD, u.Requests
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requestCost is what one served request costs.
func requestCost() int64 { return testModel.Cost(usagePrompt, 0, usageCompletion) }

// lastUserText returns the text the upstream received as the last message
// of request i.
func lastUserText(t testing.TB, body map[string]any) string {
	t.Helper()
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		t.Fatalf("upstream request without messages: %v", body)
	}
	m, _ := msgs[len(msgs)-1].(map[string]any)
	switch c := m["content"].(type) {
	case string:
		return c
	case []any:
		var s string
		for _, p := range c {
			if pm, ok := p.(map[string]any); ok {
				s += fmt.Sprint(pm["text"])
			}
		}
		return s
	}
	t.Fatalf("unexpected upstream message %v", m)
	return ""
}
