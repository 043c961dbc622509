package broker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/quota"
)

// fakeProvider is a hand-written fake: the real OpenAI provider is tested
// against a wire-exact upstream in providers/ and end to end in cmd/airlock.
type fakeProvider struct {
	CompleteFn func(ctx context.Context, c *broker.Call) (*broker.Completion, error)
}

var _ broker.Provider = (*fakeProvider)(nil)

func (f *fakeProvider) Complete(ctx context.Context, c *broker.Call) (*broker.Completion, error) {
	return f.CompleteFn(ctx, c)
}

func answer(text string) func(context.Context, *broker.Call) (*broker.Completion, error) {
	return func(context.Context, *broker.Call) (*broker.Completion, error) {
		return &broker.Completion{
			Content:    []broker.Content{broker.TextContent(text)},
			StopReason: broker.StopEndTurn,
			Usage:      broker.Usage{PromptTokens: 10, CompletionTokens: 5},
			Status:     200, Attempts: 1,
		}, nil
	}
}

type fixture struct {
	srv      *httptest.Server
	provider *fakeProvider
	quota    *quota.Store
	calls    []*broker.Call
	mu       sync.Mutex
}

const (
	tokenA = "token-for-server-a"
	tokenB = "token-for-server-b"
)

func newFixture(t *testing.T, mutate func(a, b *broker.Server, o *broker.Options, h *broker.HTTPOptions)) *fixture {
	t.Helper()
	f := &fixture{provider: &fakeProvider{CompleteFn: answer("hello back")}}
	models := []broker.Model{
		{Name: "small", Provider: "fake", Upstream: "small-1", InputPrice: 1_000_000, OutputPrice: 2_000_000, Speed: 0.9, Intelligence: 0.3},
		{Name: "large", Provider: "fake", Upstream: "large-1", InputPrice: 10_000_000, OutputPrice: 20_000_000, Speed: 0.3, Intelligence: 0.9},
	}
	a := &broker.Server{ID: "a", TokenHashes: [][32]byte{sha256.Sum256([]byte(tokenA))}, Policy: broker.Policy{Models: []string{"small", "large"}, MaxTokens: 1000}}
	b := &broker.Server{ID: "b", TokenHashes: [][32]byte{sha256.Sum256([]byte(tokenB))}, Policy: broker.Policy{Models: []string{"small"}}}
	f.quota = quota.NewMemory(map[string]broker.ServerLimits{"b": {Budgets: []broker.Budget{{Period: broker.PeriodLifetime, MicroUSD: 1000}}}}, quota.Options{})
	opts := broker.Options{Quota: f.quota}
	var hopts broker.HTTPOptions
	if mutate != nil {
		mutate(a, b, &opts, &hopts)
	}
	recording := &fakeProvider{CompleteFn: func(ctx context.Context, c *broker.Call) (*broker.Completion, error) {
		f.mu.Lock()
		cp := *c
		params := *c.Params
		cp.Params = &params
		f.calls = append(f.calls, &cp)
		f.mu.Unlock()
		return f.provider.CompleteFn(ctx, c)
	}}
	bk, err := broker.New([]*broker.Server{a, b}, models, map[string]broker.Provider{"fake": recording}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(bk.Handler(hopts))
	t.Cleanup(f.srv.Close)
	return f
}

type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Reason    string `json:"reason"`
			RequestID string `json:"requestId"`
		} `json:"data"`
	} `json:"error"`
}

func (f *fixture) post(t *testing.T, token, version, body string) (int, http.Header, rpcReply) {
	t.Helper()
	r, _ := http.NewRequest("POST", f.srv.URL+"/v1/sampling", strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if version != "" {
		r.Header.Set("MCP-Protocol-Version", version)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rep rpcReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, resp.Header, rep
}

const simple = `{"jsonrpc":"2.0","id":"req-1","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":50}}`

func TestSamplingServed(t *testing.T) {
	f := newFixture(t, nil)
	status, hdr, rep := f.post(t, tokenA, "", simple)
	if status != 200 || rep.Error != nil {
		t.Fatalf("status %d, error %+v", status, rep.Error)
	}
	if string(rep.ID) != `"req-1"` || rep.JSONRPC != "2.0" {
		t.Errorf("envelope: id %s jsonrpc %q", rep.ID, rep.JSONRPC)
	}
	if hdr.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	var res map[string]any
	json.Unmarshal(rep.Result, &res)
	want := map[string]any{
		"role":       "assistant",
		"content":    map[string]any{"type": "text", "text": "hello back"},
		"model":      "small",
		"stopReason": "endTurn",
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestSamplingRefusals(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"systemPrompt":"` + strings.Repeat("x", 2<<20) + `"}}`
	withParams := func(p string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":` + p + `}`
	}
	tests := []struct {
		name       string
		token      string
		version    string
		body       string
		wantStatus int
		wantCode   int
		wantReason string
	}{
		{"no token", "", "", simple, 401, broker.CodeUnauthorized, "unauthenticated"},
		{"wrong token", "nope", "", simple, 401, broker.CodeUnauthorized, "unauthenticated"},
		{"parse error", tokenA, "", `{`, 400, broker.CodeParseError, "parse_error"},
		{"bad version", tokenA, "2023-01-01", simple, 400, broker.CodeInvalidRequest, "unsupported_version"},
		{"too large", tokenA, "", big, 413, broker.CodeInvalidRequest, "request_too_large"},
		{"schema", tokenA, "", withParams(`{"messages":[]}`), 400, broker.CodeInvalidParams, "invalid_request"},
		{"context not allowed", tokenA, "", withParams(`{"messages":[{"role":"user","content":{"type":"text","text":"x"}}],"maxTokens":5,"includeContext":"allServers"}`), 403, broker.CodeRejected, "context_not_allowed"},
		{"images not allowed", tokenA, "", withParams(`{"messages":[{"role":"user","content":{"type":"image","data":"aGk=","mimeType":"image/png"}}],"maxTokens":5}`), 403, broker.CodeRejected, "content_not_allowed"},
		{"tools not allowed", tokenA, "", withParams(`{"messages":[{"role":"user","content":{"type":"text","text":"x"}}],"maxTokens":5,"tools":[{"name":"t","inputSchema":{"type":"object"}}]}`), 403, broker.CodeRejected, "content_not_allowed"},
		{"budget exceeded", tokenB, "", withParams(`{"messages":[{"role":"user","content":{"type":"text","text":"x"}}],"maxTokens":100000}`), 429, broker.CodeRejected, "budget_exceeded"},
		{"array content before 2025-11-25", tokenA, "2025-06-18", withParams(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"maxTokens":5}`), 400, broker.CodeInvalidParams, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			status, _, rep := f.post(t, tc.token, tc.version, tc.body)
			if rep.Error == nil {
				t.Fatalf("status %d and no error", status)
			}
			got := []any{status, rep.Error.Code, rep.Error.Data.Reason}
			want := []any{tc.wantStatus, tc.wantCode, tc.wantReason}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nmessage: %s", diff, rep.Error.Message)
			}
			if rep.Error.Data.RequestID == "" {
				t.Error("error carries no requestId")
			}
			if len(f.calls) != 0 {
				t.Errorf("provider called %d times for a refused request", len(f.calls))
			}
		})
	}
}

func TestPolicyShapesTheCall(t *testing.T) {
	f := newFixture(t, func(a, _ *broker.Server, _ *broker.Options, _ *broker.HTTPOptions) {
		a.Policy.SystemPromptMode = broker.SystemPrepend
		a.Policy.SystemPrompt = "Operator rules."
		a.Policy.KeyRef = "env:SERVER_A_KEY"
	})
	body := `{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":5000,"systemPrompt":"Server prompt.","temperature":0,"modelPreferences":{"hints":[{"name":"SMALL"}]}}}`
	status, _, rep := f.post(t, tokenA, "", body)
	if status != 200 {
		t.Fatalf("status %d: %+v", status, rep.Error)
	}
	c := f.calls[0]
	got := map[string]any{"model": c.Model.Upstream, "max": c.Params.MaxTokens, "system": c.Params.SystemPrompt, "temp": *c.Params.Temperature, "key": c.KeyRef}
	want := map[string]any{"model": "small-1", "max": int64(1000), "system": "Operator rules.\n\nServer prompt.", "temp": 0.0, "key": "env:SERVER_A_KEY"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("call (-want +got):\n%s", diff)
	}
}

func TestProviderFailureReleasesReservation(t *testing.T) {
	f := newFixture(t, nil)
	f.provider.CompleteFn = func(context.Context, *broker.Call) (*broker.Completion, error) {
		return &broker.Completion{Status: 503, Attempts: 3}, broker.Errorf(broker.ReasonProviderError, "upstream returned 503 after 3 attempts")
	}
	status, _, rep := f.post(t, tokenB, "", simple)
	if status != 502 || rep.Error.Data.Reason != "provider_error" {
		t.Fatalf("status %d reason %v", status, rep.Error)
	}
	spent, held := usage(t, f.quota, "b")
	if spent != (broker.Charge{}) || held != (broker.Charge{}) {
		t.Errorf("after a failed call: spent %+v held %+v, want nothing", spent, held)
	}
}

func TestSettlesRealUsage(t *testing.T) {
	f := newFixture(t, nil)
	status, _, _ := f.post(t, tokenB, "", simple)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	spent, held := usage(t, f.quota, "b")
	// 10 prompt tokens at $1/M and 5 completion tokens at $2/M, rounded up.
	if want := (broker.Charge{MicroUSD: 10 + 10, Tokens: 15}); spent != want || held != (broker.Charge{}) {
		t.Errorf("spent %+v held %+v, want spent %+v and nothing held", spent, held, want)
	}
}

func TestInternalErrorsAreBare(t *testing.T) {
	f := newFixture(t, nil)
	f.provider.CompleteFn = func(context.Context, *broker.Call) (*broker.Completion, error) {
		return nil, errors.New("dial tcp 10.0.0.1: secret detail")
	}
	status, _, rep := f.post(t, tokenA, "", simple)
	if status != 500 || rep.Error.Message != "internal error" || rep.Error.Data.Reason != "internal" {
		t.Errorf("status %d error %+v", status, rep.Error)
	}
}

func TestAuthFailuresThrottled(t *testing.T) {
	f := newFixture(t, func(_, _ *broker.Server, _ *broker.Options, h *broker.HTTPOptions) {
		h.AuthFailures = 3
	})
	for i := 0; i < 3; i++ {
		if status, _, _ := f.post(t, "guess", "", simple); status != 401 {
			t.Fatalf("attempt %d: status %d", i, status)
		}
	}
	status, hdr, rep := f.post(t, tokenA, "", simple)
	if status != 429 || rep.Error.Data.Reason != "auth_throttled" || hdr.Get("Retry-After") == "" {
		t.Errorf("after 3 failures: status %d reason %+v retry-after %q", status, rep.Error, hdr.Get("Retry-After"))
	}
}

func TestInFlightCaps(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	f := newFixture(t, func(a, _ *broker.Server, _ *broker.Options, h *broker.HTTPOptions) {
		a.Policy.MaxInFlight = 1
		h.MaxInFlight = 2
	})
	f.provider.CompleteFn = func(ctx context.Context, c *broker.Call) (*broker.Completion, error) {
		started <- struct{}{}
		<-release
		return answer("x")(ctx, c)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.post(t, tokenA, "", simple) }()
	<-started
	if status, _, rep := f.post(t, tokenA, "", simple); status != 429 || rep.Error.Data.Reason != "concurrency_limited" {
		t.Errorf("second request of server a: status %d %+v", status, rep.Error)
	}
	wg.Add(1)
	go func() { defer wg.Done(); f.post(t, tokenB, "", simple) }()
	<-started
	if status, _, rep := f.post(t, tokenB, "", simple); status != 503 || rep.Error.Data.Reason != "overloaded" {
		t.Errorf("third request overall: status %d %+v", status, rep.Error)
	}
	close(release)
	wg.Wait()
}

func TestOldVersionGetsSingleBlock(t *testing.T) {
	f := newFixture(t, nil)
	f.provider.CompleteFn = func(context.Context, *broker.Call) (*broker.Completion, error) {
		return &broker.Completion{Content: []broker.Content{broker.TextContent("a"), broker.TextContent("b")}, StopReason: broker.StopEndTurn}, nil
	}
	_, _, rep := f.post(t, tokenA, "2024-11-05", simple)
	var res struct{ Content json.RawMessage }
	json.Unmarshal(rep.Result, &res)
	if want := `{"type":"text","text":"ab"}`; string(res.Content) != want {
		t.Errorf("content = %s, want %s", res.Content, want)
	}
}

func TestHealthAndReady(t *testing.T) {
	down := true
	f := newFixture(t, func(_, _ *broker.Server, o *broker.Options, _ *broker.HTTPOptions) {
		o.Checkers = map[string]broker.Checker{"redis": broker.CheckFunc(func(context.Context) error {
			if down {
				return errors.New("connection refused")
			}
			return nil
		})}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, _ := get("/healthz"); s != 200 {
		t.Errorf("healthz %d", s)
	}
	if s, body := get("/readyz"); s != 503 || !strings.Contains(body, `"redis":"unreachable"`) {
		t.Errorf("readyz with redis down: %d %s", s, body)
	}
	down = false
	if s, _ := get("/readyz"); s != 200 {
		t.Errorf("readyz with redis up: %d", s)
	}
}

func TestClientGoneIsNotAServerError(t *testing.T) {
	logs := &lockedBuffer{}
	f := newFixture(t, func(_, _ *broker.Server, o *broker.Options, _ *broker.HTTPOptions) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	f.provider.CompleteFn = func(ctx context.Context, c *broker.Call) (*broker.Completion, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/v1/sampling", strings.NewReader(simple))
	r.Header.Set("Authorization", "Bearer "+tokenA)
	if _, err := http.DefaultClient.Do(r); err == nil {
		t.Fatal("expected the client to give up")
	}
	// The handler finishes after the client gave up; wait for its log line.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "status=") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, "status=499") {
		t.Errorf("a cancelled client was not logged as 499: %s", got)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func usage(t *testing.T, q *quota.Store, server string) (spent, held broker.Charge) {
	t.Helper()
	u, err := q.Usage(context.Background(), server, 0)
	if err != nil || len(u) == 0 {
		t.Fatalf("usage: %v %v", u, err)
	}
	return u[0].Spent, u[0].Reserved
}
