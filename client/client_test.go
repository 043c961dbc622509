package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/airlock-broker/airlock/broker"
)

// fakeAirlock records what reaches /v1/sampling and answers with status and
// body.
type fakeAirlock struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []*http.Request
	bodies [][]byte
	status int
	body   string
}

const okResult = `{"jsonrpc":"2.0","id":1,"result":{"role":"assistant","content":{"type":"text","text":"ok"},"model":"gpt-test","stopReason":"endTurn"}}`

func newFakeAirlock(t testing.TB) *fakeAirlock {
	a := &fakeAirlock{status: http.StatusOK, body: okResult}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.seen = append(a.seen, r)
		a.bodies = append(a.bodies, body)
		status, answer := a.status, a.body
		a.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *fakeAirlock) answer(status int, body string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.body = status, body
}

func (a *fakeAirlock) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

func (a *fakeAirlock) last(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("Airlock got no request")
	}
	return a.seen[len(a.seen)-1], a.bodies[len(a.bodies)-1]
}

func mustNew(t testing.TB, cfg Config) *Forwarder {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNew(t *testing.T) {
	resolve := func(context.Context, *mcp.ClientSession) (string, error) { return "t", nil }
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"tokens", Config{URL: "http://127.0.0.1:8080", Tokens: map[string]string{"a": "t"}}, nil},
		{"resolve", Config{URL: "https://airlock.internal:8443/", Resolve: resolve}, nil},
		{"nothing", Config{}, []string{"URL must be", "Tokens or Resolve"}},
		{"bad scheme", Config{URL: "ftp://x", Resolve: resolve}, []string{"URL must be"}},
		{"credentials", Config{URL: "http://u:p@x", Resolve: resolve}, []string{"URL must be"}},
		{"empty token", Config{URL: "http://x", Tokens: map[string]string{"a": ""}}, []string{`empty token for connection "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSample(t *testing.T) {
	refusal := `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"prompt injection detected","data":{"reason":"injection_detected","requestId":"r-1"}}}`
	tests := []struct {
		name       string
		status     int
		body       string
		wantResult string
		want       *jsonrpc.Error
	}{
		{name: "result", status: 200, body: okResult,
			wantResult: `{"role":"assistant","content":{"type":"text","text":"ok"},"model":"gpt-test","stopReason":"endTurn"}`},
		{name: "policy refusal", status: 403, body: refusal,
			want: &jsonrpc.Error{Code: -1, Message: "prompt injection detected", Data: json.RawMessage(`{"reason":"injection_detected","requestId":"r-1"}`)}},
		{name: "unknown token", status: 401, body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"unknown bearer token","data":{"reason":"unauthenticated","requestId":"r-2"}}}`,
			want: &jsonrpc.Error{Code: -32001, Message: "unknown bearer token", Data: json.RawMessage(`{"reason":"unauthenticated","requestId":"r-2"}`)}},
		{name: "proxy failing", status: 502, body: `<html>Bad Gateway</html>`,
			want: &jsonrpc.Error{Code: -32002, Message: "sampling broker unavailable", Data: json.RawMessage(`{"reason":"unavailable"}`)}},
		{name: "not Airlock", status: 404, body: `{"error":{"reason":"not_found","message":"no such endpoint"}}`,
			want: &jsonrpc.Error{Code: -32603, Message: "internal error", Data: json.RawMessage(`{"reason":"internal"}`)}},
		{name: "empty result", status: 200, body: `{"jsonrpc":"2.0","id":1,"result":null}`,
			want: &jsonrpc.Error{Code: -32603, Message: "internal error", Data: json.RawMessage(`{"reason":"internal"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAirlock(t)
			a.answer(tt.status, tt.body)
			f := mustNew(t, Config{URL: a.URL + "/", Tokens: map[string]string{"a": "tok"}})
			params := `{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":5,"temperature":0,"x-extension":[1]}`
			res, err := f.Sample(context.Background(), "server-token", "2025-06-18", json.RawMessage(params))

			r, body := a.last(t)
			if r.Method != http.MethodPost || r.URL.Path != "/v1/sampling" {
				t.Errorf("request %s %s, want POST /v1/sampling", r.Method, r.URL.Path)
			}
			for k, want := range map[string]string{"Authorization": "Bearer server-token", "MCP-Protocol-Version": "2025-06-18", "Content-Type": "application/json"} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			var sent struct {
				JSONRPC, Method string
				ID              json.RawMessage
				Params          json.RawMessage
			}
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.JSONRPC != "2.0" || sent.Method != "sampling/createMessage" || len(sent.ID) == 0 || string(sent.Params) != params {
				t.Errorf("sent %s, want a JSON-RPC request with the params byte for byte", body)
			}

			if tt.want == nil {
				if err != nil {
					t.Fatalf("Sample: %v", err)
				}
				if string(res) != tt.wantResult {
					t.Errorf("result %s, want %s", res, tt.wantResult)
				}
				return
			}
			var got *jsonrpc.Error
			if !errors.As(err, &got) {
				t.Fatalf("error %#v is not a *jsonrpc.Error", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSampleUnreachable(t *testing.T) {
	a := httptest.NewServer(http.NotFoundHandler())
	a.Close()
	f := mustNew(t, Config{URL: a.URL, Tokens: map[string]string{"a": "tok"}})
	_, err := f.Sample(context.Background(), "tok", "", json.RawMessage(`{}`))
	var we *jsonrpc.Error
	if !errors.As(err, &we) || we.Code != -32002 || Reason(err) != "unavailable" || strings.Contains(we.Message, "127.0.0.1") {
		t.Errorf("error = %#v, want -32002 unavailable that does not say where Airlock is", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Sample(ctx, "tok", "", json.RawMessage(`{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error = %v, want context.Canceled", err)
	}
}

// sdkPair connects a toolServer to a client whose options come from opts,
// through f.Connect when name is not empty, else directly.
func sdkPair(t *testing.T, f *Forwarder, opts *mcp.ClientOptions, name, version string) (*toolServer, *mcp.ClientSession) {
	t.Helper()
	ctx := context.Background()
	s := newToolServer()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1.0.0"}, opts)
	so := &mcp.ClientSessionOptions{ProtocolVersion: version}
	var cs *mcp.ClientSession
	if name != "" {
		cs, err = f.Connect(ctx, c, name, ct, so)
	} else {
		cs, err = c.Connect(ctx, ct, so)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return s, cs
}

// The version header is the session's negotiated version, in both styles.
func TestProtocolVersionHeader(t *testing.T) {
	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			a := newFakeAirlock(t)
			f := mustNew(t, Config{URL: a.URL, Tokens: map[string]string{"alpha": "alpha-token"}})
			_, cs := sdkPair(t, f, &mcp.ClientOptions{CreateMessageWithToolsHandler: f.CreateMessageWithTools}, "alpha", version)
			tool := "summarize"
			if version >= "2026-07-28" {
				tool = "draft"
			}
			if got, err := callText(t, cs, tool, "hello"); err != nil || got != "ok" {
				t.Fatalf("call = %q, %v", got, err)
			}
			r, _ := a.last(t)
			if got := r.Header.Get("MCP-Protocol-Version"); got != version {
				t.Errorf("MCP-Protocol-Version = %q, want %q", got, version)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer alpha-token" {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
}

func TestTokenResolution(t *testing.T) {
	errNope := errors.New("not ours")
	tests := []struct {
		name      string
		resolve   func(context.Context, *mcp.ClientSession) (string, error)
		connectAs string // "" connects without the Forwarder
		wantToken string // "" expects a refusal
	}{
		{name: "Connect's name", connectAs: "alpha", wantToken: "alpha-token"},
		{name: "Connect's name before Resolve", connectAs: "beta", wantToken: "beta-token",
			resolve: func(context.Context, *mcp.ClientSession) (string, error) { return "resolved", nil }},
		{name: "Resolve", wantToken: "resolved",
			resolve: func(_ context.Context, cs *mcp.ClientSession) (string, error) {
				if cs == nil {
					return "", errNope
				}
				return "resolved", nil
			}},
		{name: "Resolve fails",
			resolve: func(context.Context, *mcp.ClientSession) (string, error) { return "", errNope }},
		{name: "Resolve finds nothing",
			resolve: func(context.Context, *mcp.ClientSession) (string, error) { return "", nil }},
		{name: "neither Connect nor Resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAirlock(t)
			f := mustNew(t, Config{URL: a.URL, Tokens: map[string]string{"alpha": "alpha-token", "beta": "beta-token"}, Resolve: tt.resolve})
			s, cs := sdkPair(t, f, &mcp.ClientOptions{CreateMessageWithToolsHandler: f.CreateMessageWithTools}, tt.connectAs, "2025-11-25")
			_, err := callText(t, cs, "summarize", "hello")
			if tt.wantToken != "" {
				if err != nil {
					t.Fatal(err)
				}
				r, _ := a.last(t)
				if got := r.Header.Get("Authorization"); got != "Bearer "+tt.wantToken {
					t.Errorf("Authorization = %q, want Bearer %s", got, tt.wantToken)
				}
				return
			}
			var we *jsonrpc.Error
			if len(s.errs) != 1 || !errors.As(s.errs[0], &we) || we.Code != -32001 || Reason(we) != "unauthenticated" {
				t.Fatalf("server got %v, want a -32001 unauthenticated refusal", s.errs)
			}
			if n := a.count(); n != 0 {
				t.Errorf("Airlock got %d requests, want none", n)
			}
		})
	}
}

func TestConnectUnknownName(t *testing.T) {
	f := mustNew(t, Config{URL: "http://127.0.0.1:1", Tokens: map[string]string{"alpha": "t"}})
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, nil)
	_, ct := mcp.NewInMemoryTransports()
	if _, err := f.Connect(context.Background(), c, "gamma", ct, nil); err == nil || !strings.Contains(err.Error(), `"gamma"`) {
		t.Errorf("Connect = %v, want an error naming the connection", err)
	}
}

func TestCreateMessage(t *testing.T) {
	tests := []struct {
		name     string
		answer   string
		wantText string
		wantCode int64
	}{
		{name: "one block", answer: okResult, wantText: "ok"},
		{name: "two blocks", answer: `{"jsonrpc":"2.0","id":1,"result":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"model":"m"}}`, wantCode: -32603},
		{name: "refusal", answer: `{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"budget exceeded","data":{"reason":"budget_exceeded"}}}`, wantCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeAirlock(t)
			a.answer(http.StatusOK, tt.answer)
			f := mustNew(t, Config{URL: a.URL, Tokens: map[string]string{"alpha": "alpha-token"}})
			s, cs := sdkPair(t, f, &mcp.ClientOptions{CreateMessageHandler: f.CreateMessage}, "alpha", "2025-11-25")
			got, err := callText(t, cs, "summarize", "hello")
			if tt.wantCode == 0 {
				if err != nil || got != tt.wantText {
					t.Fatalf("call = %q, %v; want %q", got, err, tt.wantText)
				}
			} else {
				var we *jsonrpc.Error
				if len(s.errs) != 1 || !errors.As(s.errs[0], &we) || we.Code != tt.wantCode {
					t.Fatalf("server got %v, want code %d", s.errs, tt.wantCode)
				}
			}
			_, body := a.last(t)
			var sent struct{ Params json.RawMessage }
			json.Unmarshal(body, &sent)
			want := `{"messages":[{"content":{"type":"text","text":"hello"},"role":"user"}],"maxTokens":50,"systemPrompt":"Be brief."}`
			if diff := cmp.Diff(jsonValue(t, want), jsonValue(t, string(sent.Params))); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func jsonValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return v
}

func TestReason(t *testing.T) {
	wire := &jsonrpc.Error{Code: -1, Message: "m", Data: json.RawMessage(`{"reason":"budget_exceeded"}`)}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"wire error", wire, "budget_exceeded"},
		{"wrapped", errors.Join(errors.New("multi round-trip"), wire), "budget_exceeded"},
		{"no data", &jsonrpc.Error{Code: -1, Message: "m"}, ""},
		{"data without reason", &jsonrpc.Error{Code: -1, Data: json.RawMessage(`[1]`)}, ""},
		{"other error", errors.New("x"), ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.err); got != tt.want {
				t.Errorf("Reason = %q, want %q", got, tt.want)
			}
		})
	}
}

// The Forwarder's own refusals speak Airlock's vocabulary.
func TestCodesAreAirlocks(t *testing.T) {
	for _, c := range []struct {
		got  int64
		want int
	}{{codeUnauthorized, broker.CodeUnauthorized}, {codeUnavailable, broker.CodeUnavailable}, {codeInternal, broker.CodeInternal}} {
		if c.got != int64(c.want) {
			t.Errorf("code %d, broker's %d", c.got, c.want)
		}
	}
	for _, r := range []struct {
		err    *jsonrpc.Error
		reason broker.Reason
	}{
		{noToken().(*jsonrpc.Error), broker.ReasonUnauthenticated},
		{mustNew(t, Config{URL: "http://x", Resolve: func(context.Context, *mcp.ClientSession) (string, error) { return "", nil }}).unavailable("test", errors.New("x")).(*jsonrpc.Error), broker.ReasonUnavailable},
	} {
		if Reason(r.err) != string(r.reason) || r.err.Code != int64(r.reason.RPCCode()) {
			t.Errorf("%v: want reason %s with code %d", r.err, r.reason, r.reason.RPCCode())
		}
	}
}

// A server may ask as soon as it is initialized, before Connect has
// returned the session: the request waits for Connect, and gets the token
// of the connection's name.
func TestSamplingDuringConnect(t *testing.T) {
	a := newFakeAirlock(t)
	f := mustNew(t, Config{URL: a.URL, Tokens: map[string]string{"alpha": "alpha-token"}})
	got := make(chan error, 1)
	s := mcp.NewServer(&mcp.Implementation{Name: "eager", Version: "1"}, &mcp.ServerOptions{
		InitializedHandler: func(ctx context.Context, req *mcp.InitializedRequest) {
			go func() {
				_, err := req.Session.CreateMessage(context.Background(), samplingParams("hello"))
				got <- err
			}()
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, &mcp.ClientOptions{CreateMessageWithToolsHandler: f.CreateMessageWithTools})
	cs, err := f.Connect(context.Background(), c, "alpha", ct, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := <-got; err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if r, _ := a.last(t); r.Header.Get("Authorization") != "Bearer alpha-token" {
		t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
	}
}

func TestLookupWaitsForConnect(t *testing.T) {
	f := mustNew(t, Config{URL: "http://x", Tokens: map[string]string{"alpha": "t"}})
	cs := new(mcp.ClientSession)
	f.mu.Lock()
	f.connecting++
	f.mu.Unlock()
	found := make(chan *conn, 1)
	go func() {
		cn, _ := f.lookup(context.Background(), cs)
		found <- cn
	}()
	// As Connect ends.
	f.mu.Lock()
	f.connecting--
	f.sessions[cs] = &conn{name: "alpha"}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if cn := <-found; cn == nil || cn.name != "alpha" {
		t.Errorf("lookup = %v, want alpha's", cn)
	}

	// Nothing in progress: an unknown session is not waited for; a
	// cancelled wait ends.
	if cn, err := f.lookup(context.Background(), new(mcp.ClientSession)); cn != nil || err != nil {
		t.Errorf("lookup = %v, %v; want nil", cn, err)
	}
	f.mu.Lock()
	f.connecting++
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.lookup(ctx, new(mcp.ClientSession)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup = %v", err)
	}
}
