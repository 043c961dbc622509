package providers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
)

// upstream is an OpenAI-compatible server that records what it receives and
// answers with handle, which gets the 0-based index of the request.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []seenRequest
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

type seenRequest struct {
	Path, Query, Auth, APIKey, RequestID string
	Body                                 any
}

func newUpstream(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *upstream {
	t.Helper()
	u := &upstream{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var body any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("upstream: request body is not JSON: %v", err)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" || r.Method != http.MethodPost {
			t.Errorf("upstream: got %s with Content-Type %q, want POST application/json", r.Method, ct)
		}
		u.mu.Lock()
		n := len(u.seen)
		u.seen = append(u.seen, seenRequest{
			Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
			APIKey: r.Header.Get("Api-Key"), RequestID: r.Header.Get("X-Client-Request-Id"), Body: body,
		})
		u.mu.Unlock()
		u.handle(w, r, n)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// chatJSON is a chat.completion as OpenAI sends it, around message.
func chatJSON(message, finish string) string {
	return `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,` +
		`"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":` + message + `,"logprobs":null,` +
		`"finish_reason":"` + finish + `"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,` +
		`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":` +
		`{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
		`"service_tier":"default","system_fingerprint":"fp_06737a9306"}`
}

const helloMessage = `{"role":"assistant","content":"Hello!","refusal":null,"annotations":[]}`

func ok(w http.ResponseWriter, _ *http.Request, _ int) {
	reply(w, http.StatusOK, chatJSON(helloMessage, "stop"))
}

// apiError is an error body as OpenAI sends it.
func apiError(msg, typ, code string) string {
	return `{"error":{"message":"` + msg + `","type":"` + typ + `","param":null,"code":"` + code + `"}}`
}

const testKey = "sk-test-0123456789abcdef"

// newTestOpenAI returns a provider on u that never sleeps for real; the
// delays it asked for are in the returned slice.
func newTestOpenAI(t testing.TB, u *upstream, keys broker.KeySource, mod func(*OpenAIConfig)) (*OpenAI, *[]time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var sleeps []time.Duration
	cfg := OpenAIConfig{
		Name: "test", BaseURL: u.URL + "/v1", KeyRef: "env:OPENAI_API_KEY",
		Timeout: 5 * time.Second, MaxRetries: 2, Backoff: time.Millisecond, MaxBackoff: time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
			return ctx.Err()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	if keys == nil {
		keys = staticKeys(testKey)
	}
	o, err := NewOpenAI(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	return o, &sleeps
}

func ptr[T any](v T) *T { return &v }

func user(blocks ...broker.Content) broker.SamplingMessage {
	return broker.SamplingMessage{Role: broker.RoleUser, Content: blocks}
}

func assistant(blocks ...broker.Content) broker.SamplingMessage {
	return broker.SamplingMessage{Role: broker.RoleAssistant, Content: blocks}
}

func text(s string) broker.Content { return broker.TextContent(s) }

func textCall(s string) *broker.Call {
	return &broker.Call{
		RequestID: "req-1",
		Model:     broker.Model{Name: "mini", Upstream: "gpt-4o-mini"},
		Params:    &broker.CreateMessageParams{Messages: []broker.SamplingMessage{user(text(s))}, MaxTokens: 100},
	}
}

func TestOpenAIRequest(t *testing.T) {
	weather := broker.Tool{
		Name: "get_weather", Description: "Weather for a city",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
	}
	tests := []struct {
		name   string
		params broker.CreateMessageParams
		model  string
		cfg    func(*OpenAIConfig)
		want   string // the exact request body
	}{{
		name:   "minimal, no temperature",
		params: broker.CreateMessageParams{Messages: []broker.SamplingMessage{user(text("Hi"))}, MaxTokens: 100},
		want:   `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":100,"stream":false}`,
	}, {
		name: "system first, temperature zero, stop",
		params: broker.CreateMessageParams{
			SystemPrompt: "Be brief.", Temperature: ptr(0.0), StopSequences: []string{"END", "\n\n"}, MaxTokens: 50,
			Messages: []broker.SamplingMessage{user(text("Hi")), assistant(text("Hello")), user(text("Bye"))},
		},
		want: `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
			{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"}],
			"temperature":0,"stop":["END","\n\n"],"max_tokens":50,"stream":false}`,
	}, {
		name:   "temperature set",
		params: broker.CreateMessageParams{Messages: []broker.SamplingMessage{user(text("Hi"))}, Temperature: ptr(0.7), MaxTokens: 10},
		want:   `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"temperature":0.7,"max_tokens":10,"stream":false}`,
	}, {
		name: "image as data URL, several blocks as parts",
		params: broker.CreateMessageParams{MaxTokens: 10, Messages: []broker.SamplingMessage{
			user(text("What is this?"), broker.Content{Type: broker.ContentImage, Data: "iVBORw0KGgo=", MIMEType: "image/png"}),
			assistant(text("A"), text("B")),
		}},
		want: `{"model":"gpt-4o-mini","max_tokens":10,"stream":false,"messages":[
			{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
			{"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]}]}`,
	}, {
		name: "tools, tool calls and tool results",
		params: broker.CreateMessageParams{
			MaxTokens: 10, Tools: []broker.Tool{weather}, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceRequired},
			Messages: []broker.SamplingMessage{
				user(text("Weather in Paris and Lyon?")),
				assistant(text("Let me check."),
					broker.Content{Type: broker.ContentToolUse, ID: "call_1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
					broker.Content{Type: broker.ContentToolUse, ID: "call_2", Name: "get_weather", Input: json.RawMessage(`{"city":"Lyon"}`)}),
				user(
					broker.Content{Type: broker.ContentToolResult, ToolUseID: "call_1", Content: []broker.Content{text("18°C"), text("sunny")}},
					broker.Content{Type: broker.ContentToolResult, ToolUseID: "call_2", StructuredContent: json.RawMessage(`{"temp":17}`)}),
			},
		},
		want: `{"model":"gpt-4o-mini","max_tokens":10,"stream":false,"tool_choice":"required",
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather for a city",
				"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
			"messages":[{"role":"user","content":"Weather in Paris and Lyon?"},
				{"role":"assistant","content":"Let me check.","tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lyon\"}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"18°C\nsunny"},
				{"role":"tool","tool_call_id":"call_2","content":"{\"temp\":17}"}]}`,
	}, {
		name:   "max_completion_tokens configured",
		params: broker.CreateMessageParams{Messages: []broker.SamplingMessage{user(text("Hi"))}, MaxTokens: 100},
		cfg:    func(c *OpenAIConfig) { c.MaxTokensField = MaxCompletionTokens },
		want:   `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":100,"stream":false}`,
	}, {
		name:   "max_completion_tokens picked for a reasoning model",
		params: broker.CreateMessageParams{Messages: []broker.SamplingMessage{user(text("Hi"))}, MaxTokens: 100},
		model:  "gpt-5-mini",
		want:   `{"model":"gpt-5-mini","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":100,"stream":false}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, ok)
			o, _ := newTestOpenAI(t, u, nil, tt.cfg)
			call := &broker.Call{RequestID: "req-42", Model: broker.Model{Name: "m", Upstream: "gpt-4o-mini"}, Params: &tt.params}
			if tt.model != "" {
				call.Model.Upstream = tt.model
			}
			if _, err := o.Complete(context.Background(), call); err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			seen := u.requests()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests, want 1", len(seen))
			}
			if diff := cmp.Diff(want, seen[0].Body); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			wantReq := seenRequest{Path: "/v1/chat/completions", Auth: "Bearer " + testKey, RequestID: "req-42"}
			seen[0].Body = nil
			if diff := cmp.Diff(wantReq, seen[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAIAzure(t *testing.T) {
	u := newUpstream(t, ok)
	o, _ := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) {
		c.Kind, c.BaseURL, c.APIVersion = "azure", u.URL, "2024-10-21"
	})
	if _, err := o.Complete(context.Background(), textCall("Hi")); err != nil {
		t.Fatal(err)
	}
	got := u.requests()[0]
	got.Body = nil
	want := seenRequest{Path: "/openai/deployments/gpt-4o-mini/chat/completions", Query: "api-version=2024-10-21", APIKey: testKey, RequestID: "req-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestOpenAIResponse(t *testing.T) {
	weatherCall := `{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},` +
		`{"id":"","type":"function","function":{"name":"now","arguments":""}}],"refusal":null}`
	hello := []broker.Content{text("Hello!")}
	usage := broker.Usage{PromptTokens: 19, CompletionTokens: 10}
	tests := []struct {
		name     string
		body     string
		stopSeqs []string
		want     *broker.Completion
		wantErr  string // substring of a provider_error
	}{
		{name: "stop", body: chatJSON(helloMessage, "stop"),
			want: &broker.Completion{Content: hello, StopReason: broker.StopEndTurn, Usage: usage}},
		{name: "length", body: chatJSON(helloMessage, "length"),
			want: &broker.Completion{Content: hello, StopReason: broker.StopMaxTokens, Usage: usage}},
		{name: "content filter", body: chatJSON(helloMessage, "content_filter"),
			want: &broker.Completion{Content: hello, StopReason: StopContentFilter, Usage: usage}},
		{name: "unknown reason passes through", body: chatJSON(helloMessage, "eos_token"),
			want: &broker.Completion{Content: hello, StopReason: "eos_token", Usage: usage}},
		{name: "tool calls", body: chatJSON(weatherCall, "tool_calls"),
			want: &broker.Completion{Content: []broker.Content{
				{Type: broker.ContentToolUse, ID: "call_abc", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				{Type: broker.ContentToolUse, ID: "call_1", Name: "now", Input: json.RawMessage(`{}`)},
			}, StopReason: broker.StopToolUse, Usage: usage}},
		{name: "tool calls with stop", body: chatJSON(strings.Replace(weatherCall, "null", `"Checking."`, 1), "stop"),
			want: &broker.Completion{Content: []broker.Content{
				text("Checking."),
				{Type: broker.ContentToolUse, ID: "call_abc", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)},
				{Type: broker.ContentToolUse, ID: "call_1", Name: "now", Input: json.RawMessage(`{}`)},
			}, StopReason: broker.StopToolUse, Usage: usage}},
		{name: "vLLM stop string", stopSeqs: []string{"END"},
			body: strings.Replace(chatJSON(helloMessage, "stop"), `"finish_reason"`, `"stop_reason":"END","finish_reason"`, 1),
			want: &broker.Completion{Content: hello, StopReason: broker.StopStopSequence, Usage: usage}},
		{name: "vLLM stop token", stopSeqs: []string{"END"},
			body: strings.Replace(chatJSON(helloMessage, "stop"), `"finish_reason"`, `"stop_reason":128009,"finish_reason"`, 1),
			want: &broker.Completion{Content: hello, StopReason: broker.StopEndTurn, Usage: usage}},
		{name: "vLLM stop string without stop sequences",
			body: strings.Replace(chatJSON(helloMessage, "stop"), `"finish_reason"`, `"stop_reason":"END","finish_reason"`, 1),
			want: &broker.Completion{Content: hello, StopReason: broker.StopEndTurn, Usage: usage}},
		{name: "llama.cpp stopping word", stopSeqs: []string{"END"},
			body: strings.Replace(chatJSON(helloMessage, "stop"), `"usage"`, `"stopping_word":"END","usage"`, 1),
			want: &broker.Completion{Content: hello, StopReason: broker.StopStopSequence, Usage: usage}},
		{name: "cached tokens",
			body: strings.Replace(chatJSON(helloMessage, "stop"), `"cached_tokens":0`, `"cached_tokens":12`, 1),
			want: &broker.Completion{Content: hello, StopReason: broker.StopEndTurn,
				Usage: broker.Usage{PromptTokens: 19, CompletionTokens: 10, CachedPromptTokens: 12}}},
		{name: "refusal", body: chatJSON(`{"role":"assistant","content":null,"refusal":"I can't help with that."}`, "stop"),
			want: &broker.Completion{Content: []broker.Content{text("I can't help with that.")}, StopReason: broker.StopEndTurn, Usage: usage}},
		{name: "arguments not an object", wantErr: "not a JSON object",
			body: chatJSON(strings.Replace(weatherCall, `{\"city\":\"Paris\"}`, `[1]`, 1), "tool_calls")},
		{name: "arguments not JSON", wantErr: "not a JSON object",
			body: chatJSON(strings.Replace(weatherCall, `{\"city\":\"Paris\"}`, `{city`, 1), "tool_calls")},
		{name: "no choices", wantErr: "no choices", body: `{"id":"x","object":"chat.completion","choices":[]}`},
		{name: "not JSON", wantErr: "invalid response", body: `<html>Bad Gateway</html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, http.StatusOK, tt.body) })
			o, _ := newTestOpenAI(t, u, nil, nil)
			call := textCall("Hi")
			call.Params.StopSequences = tt.stopSeqs
			got, err := o.Complete(context.Background(), call)
			if tt.wantErr != "" {
				if broker.ErrorReason(err) != broker.ReasonProviderError || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a provider_error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Status, tt.want.Attempts = http.StatusOK, 1
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("completion (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAIRetries(t *testing.T) {
	type answer struct {
		status int
		header map[string]string
	}
	tests := []struct {
		name         string
		answers      []answer // the last one repeats
		maxRetries   int
		maxBackoff   time.Duration
		wantAttempts int
		wantStatus   int
		wantErr      string // substring of a provider_error; "" for success
		wantSleeps   []time.Duration
	}{
		{name: "429 then 200", answers: []answer{{status: 429}, {status: 200}}, maxRetries: 2,
			wantAttempts: 2, wantStatus: 200},
		{name: "502, 503, 504 then 200", answers: []answer{{status: 502}, {status: 503}, {status: 504}, {status: 200}}, maxRetries: 3,
			wantAttempts: 4, wantStatus: 200},
		{name: "500 until out of retries", answers: []answer{{status: 500}}, maxRetries: 2,
			wantAttempts: 3, wantStatus: 500, wantErr: "upstream returned 500 after 3 attempts (server_error)"},
		{name: "no retries", answers: []answer{{status: 503}}, maxRetries: 0,
			wantAttempts: 1, wantStatus: 503, wantErr: "upstream returned 503 after 1 attempt"},
		{name: "400 is not retried", answers: []answer{{status: 400}}, maxRetries: 2,
			wantAttempts: 1, wantStatus: 400, wantErr: "upstream returned 400 after 1 attempt (invalid_request_error/context_length_exceeded)"},
		{name: "404 is not retried", answers: []answer{{status: 404}}, maxRetries: 2,
			wantAttempts: 1, wantStatus: 404, wantErr: "returned 404"},
		{name: "Retry-After honoured", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "2"}}, {status: 200}},
			maxRetries: 2, maxBackoff: time.Minute, wantAttempts: 2, wantStatus: 200, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "Retry-After capped", answers: []answer{{status: 429, header: map[string]string{"Retry-After": "3600"}}, {status: 200}},
			maxRetries: 2, maxBackoff: 5 * time.Millisecond, wantAttempts: 2, wantStatus: 200, wantSleeps: []time.Duration{5 * time.Millisecond}},
		{name: "retry-after-ms", answers: []answer{{status: 503, header: map[string]string{"Retry-After-Ms": "20", "Retry-After": "1"}}, {status: 200}},
			maxRetries: 2, maxBackoff: time.Minute, wantAttempts: 2, wantStatus: 200, wantSleeps: []time.Duration{20 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
				a := tt.answers[min(n, len(tt.answers)-1)]
				for k, v := range a.header {
					w.Header().Set(k, v)
				}
				switch a.status {
				case 200:
					ok(w, r, n)
				case 400:
					reply(w, 400, apiError("This model's maximum context length is 128000 tokens.", "invalid_request_error", "context_length_exceeded"))
				default:
					reply(w, a.status, `{"error":{"message":"The server had an error.","type":"server_error","param":null,"code":null}}`)
				}
			})
			o, sleeps := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) {
				c.MaxRetries, c.MaxBackoff = tt.maxRetries, tt.maxBackoff
			})
			got, err := o.Complete(context.Background(), textCall("Hi"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (broker.ErrorReason(err) != broker.ReasonProviderError || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want a provider_error containing %q", err, tt.wantErr)
			}
			if got == nil || got.Attempts != tt.wantAttempts || got.Status != tt.wantStatus {
				t.Fatalf("completion = %+v, want %d attempts, status %d", got, tt.wantAttempts, tt.wantStatus)
			}
			if n := len(u.requests()); n != tt.wantAttempts {
				t.Errorf("upstream saw %d requests, want %d", n, tt.wantAttempts)
			}
			if tt.wantSleeps != nil {
				if diff := cmp.Diff(tt.wantSleeps, *sleeps); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			} else if len(*sleeps) != tt.wantAttempts-1 {
				t.Errorf("slept %d times, want %d", len(*sleeps), tt.wantAttempts-1)
			}
		})
	}
}

func TestOpenAIBackoff(t *testing.T) {
	o, err := NewOpenAI(OpenAIConfig{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}, staticKeys(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	} {
		for range 20 {
			if d := o.delay(tt.retry, http.Header{}); d < tt.min || d > tt.max {
				t.Errorf("delay(%d) = %v, want within [%v, %v]", tt.retry, d, tt.min, tt.max)
			}
		}
	}
}
