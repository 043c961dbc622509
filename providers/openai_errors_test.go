package providers

import (
	"context"
	"errors"
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

// rotatingKeys serves "sk-old" until refreshed, then next.
type rotatingKeys struct {
	mu        sync.Mutex
	key, next string
	refs      []string // every ref asked for, Key or Refresh
	refreshes int
	fail      error
}

func (k *rotatingKeys) source() *fakeKeys {
	return &fakeKeys{
		KeyFn: func(_ context.Context, ref string) (string, error) {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.refs = append(k.refs, ref)
			return k.key, nil
		},
		RefreshFn: func(_ context.Context, ref string) (string, error) {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.refs = append(k.refs, ref)
			k.refreshes++
			if k.fail != nil {
				return "", k.fail
			}
			k.key = k.next
			return k.key, nil
		},
	}
}

func TestOpenAIKeyRotation(t *testing.T) {
	tests := []struct {
		name          string
		next          string // the key after Refresh
		accept        string // the key the upstream accepts
		status        int    // what it answers a wrong key
		refreshErr    error
		callRef       string
		wantAuth      []string
		wantRefs      []string
		wantRefreshes int
		wantReason    broker.Reason // "" for success
	}{
		{name: "401 rotates once", next: "sk-new", accept: "sk-new", status: 401,
			wantAuth: []string{"Bearer sk-old", "Bearer sk-new"}, wantRefs: []string{"env:OPENAI_API_KEY", "env:OPENAI_API_KEY"}, wantRefreshes: 1},
		{name: "403 rotates once", next: "sk-new", accept: "sk-new", status: 403,
			wantAuth: []string{"Bearer sk-old", "Bearer sk-new"}, wantRefs: []string{"env:OPENAI_API_KEY", "env:OPENAI_API_KEY"}, wantRefreshes: 1},
		{name: "the call's key reference wins", next: "sk-new", accept: "sk-new", status: 401, callRef: "file:/run/secrets/team",
			wantAuth: []string{"Bearer sk-old", "Bearer sk-new"}, wantRefs: []string{"file:/run/secrets/team", "file:/run/secrets/team"}, wantRefreshes: 1},
		{name: "new key rejected too", next: "sk-new", accept: "sk-other", status: 401,
			wantAuth: []string{"Bearer sk-old", "Bearer sk-new"}, wantRefs: []string{"env:OPENAI_API_KEY", "env:OPENAI_API_KEY"}, wantRefreshes: 1,
			wantReason: broker.ReasonProviderError},
		{name: "same key is not retried", next: "sk-old", accept: "sk-other", status: 401,
			wantAuth: []string{"Bearer sk-old"}, wantRefs: []string{"env:OPENAI_API_KEY", "env:OPENAI_API_KEY"}, wantRefreshes: 1,
			wantReason: broker.ReasonProviderError},
		{name: "refresh fails", refreshErr: broker.Errorf(broker.ReasonUnavailable, "vault sealed"), accept: "sk-new", status: 401,
			wantAuth: []string{"Bearer sk-old"}, wantRefs: []string{"env:OPENAI_API_KEY", "env:OPENAI_API_KEY"}, wantRefreshes: 1,
			wantReason: broker.ReasonUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.Header.Get("Authorization") != "Bearer "+tt.accept {
					reply(w, tt.status, apiError("Incorrect API key provided: sk-ol***. You can find your API key at https://platform.openai.com/account/api-keys.",
						"invalid_request_error", "invalid_api_key"))
					return
				}
				ok(w, r, n)
			})
			keys := &rotatingKeys{key: "sk-old", next: tt.next, fail: tt.refreshErr}
			o, sleeps := newTestOpenAI(t, u, keys.source(), nil)
			call := textCall("Hi")
			call.KeyRef = tt.callRef
			got, err := o.Complete(context.Background(), call)
			if r := broker.ErrorReason(err); r != tt.wantReason {
				t.Fatalf("reason = %q (%v), want %q", r, err, tt.wantReason)
			}
			if err != nil && (strings.Contains(err.Error(), "sk-") || strings.Contains(err.Error(), "Incorrect")) {
				t.Errorf("error %q quotes the upstream", err)
			}
			var auth []string
			for _, s := range u.requests() {
				auth = append(auth, s.Auth)
			}
			if diff := cmp.Diff(tt.wantAuth, auth); diff != "" {
				t.Errorf("keys the upstream saw (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRefs, keys.refs); diff != "" {
				t.Errorf("refs asked for (-want +got):\n%s", diff)
			}
			if keys.refreshes != tt.wantRefreshes || len(*sleeps) != 0 {
				t.Errorf("refreshed %d times and slept %d, want %d and 0", keys.refreshes, len(*sleeps), tt.wantRefreshes)
			}
			if tt.wantReason == "" && got.Attempts != 2 {
				t.Errorf("attempts = %d, want 2", got.Attempts)
			}
		})
	}
}

func TestOpenAICancel(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	u := newUpstream(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	o, _ := newTestOpenAI(t, u, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	_, err := o.Complete(ctx, textCall("Hi"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	if n := len(u.requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

func TestOpenAITimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	u := newUpstream(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	o, _ := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) { c.Timeout, c.MaxRetries = 5*time.Millisecond, 1 })
	got, err := o.Complete(context.Background(), textCall("Hi"))
	if broker.ErrorReason(err) != broker.ReasonProviderError || !strings.Contains(err.Error(), "upstream timed out after 2 attempts") {
		t.Fatalf("err = %v, want provider_error: upstream timed out", err)
	}
	if got.Attempts != 2 || got.Status != 0 {
		t.Errorf("attempts, status = %d, %d; want 2, 0", got.Attempts, got.Status)
	}
}

func TestOpenAIErrorsHoldNoSecret(t *testing.T) {
	const key, prompt = "sk-proj-SECRETabcdef0123456789", "my password is hunter2"
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name   string
		status int
		body   string
		base   string // overrides the upstream
	}{
		{name: "401 echoing the key", status: 401, body: apiError("Incorrect API key provided: sk-proj-SECR********6789.", "invalid_request_error", "invalid_api_key")},
		{name: "400 echoing the prompt", status: 400, body: apiError("Invalid content: "+prompt, "invalid_request_error", "")},
		{name: "500 with a raw body", status: 500, body: "upstream crashed handling " + prompt + " with " + key},
		{name: "code that is not an identifier", status: 400, body: apiError("x", "invalid_request_error", prompt)},
		{name: "unreachable", base: downURL + "/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tt.status, tt.body) })
			o, _ := newTestOpenAI(t, u, staticKeys(key), func(c *OpenAIConfig) {
				c.MaxRetries = 0
				if tt.base != "" {
					c.BaseURL = tt.base
				}
			})
			_, err := o.Complete(context.Background(), textCall(prompt))
			if broker.ErrorReason(err) != broker.ReasonProviderError {
				t.Fatalf("err = %v, want provider_error", err)
			}
			for _, secret := range []string{"sk-proj", "SECR", "hunter2", "Incorrect", "crashed"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func TestOpenAIResponseTooLarge(t *testing.T) {
	huge := strings.Repeat("a", 64<<10)
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{name: "success body over the cap", status: 200, body: chatJSON(`{"role":"assistant","content":"`+huge+`"}`, "stop"),
			wantErr: "larger than 4096 bytes"},
		{name: "error body over its cap", status: 400, body: apiError(strings.Repeat(huge, 2), "invalid_request_error", "x"),
			wantErr: "upstream returned 400 after 1 attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tt.status, tt.body) })
			o, _ := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) { c.MaxResponseBytes = 4096 })
			_, err := o.Complete(context.Background(), textCall("Hi"))
			if broker.ErrorReason(err) != broker.ReasonProviderError || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want provider_error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpenAINoRedirect(t *testing.T) {
	var leaked sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		leaked.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization")+r.Header.Get("Api-Key"))
		leaked.Unlock()
	}))
	defer other.Close()
	for _, kind := range []string{"openai", "azure"} {
		t.Run(kind, func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Redirect(w, r, other.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
			})
			o, _ := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) {
				c.Kind, c.APIVersion = kind, "2024-10-21"
			})
			got, err := o.Complete(context.Background(), textCall("Hi"))
			if broker.ErrorReason(err) != broker.ReasonProviderError || got.Status != http.StatusTemporaryRedirect {
				t.Fatalf("err = %v, status %d; want provider_error, 307", err, got.Status)
			}
		})
	}
	if len(elsewhere) != 0 {
		t.Errorf("the redirect target received %q", elsewhere)
	}
}

func TestOpenAIContentNotAllowed(t *testing.T) {
	tests := []struct {
		name string
		msg  broker.SamplingMessage
		want string
	}{
		{name: "audio", want: "cannot take audio",
			msg: user(broker.Content{Type: broker.ContentAudio, Data: "UklGRg==", MIMEType: "audio/wav"})},
		{name: "image from the assistant", want: "cannot take image content in an assistant message",
			msg: assistant(broker.Content{Type: broker.ContentImage, Data: "iVBORw0KGgo=", MIMEType: "image/png"})},
		{name: "image in a tool result", want: "cannot take image content in a tool result",
			msg: user(broker.Content{Type: broker.ContentToolResult, ToolUseID: "c", Content: []broker.Content{
				{Type: broker.ContentImage, Data: "iVBORw0KGgo=", MIMEType: "image/png"}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, ok)
			o, _ := newTestOpenAI(t, u, nil, nil)
			call := textCall("Hi")
			call.Params.Messages = append(call.Params.Messages, tt.msg)
			_, err := o.Complete(context.Background(), call)
			if broker.ErrorReason(err) != broker.ReasonContentNotAllowed || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want content_not_allowed containing %q", err, tt.want)
			}
			if n := len(u.requests()); n != 0 {
				t.Errorf("upstream saw %d requests, want 0", n)
			}
		})
	}
}

func TestOpenAIKeyUnavailable(t *testing.T) {
	u := newUpstream(t, ok)
	keys := Keys{"env": &Env{LookupEnv: func(string) (string, bool) { return "", false }}}
	o, _ := newTestOpenAI(t, u, keys, nil)
	got, err := o.Complete(context.Background(), textCall("Hi"))
	if broker.ErrorReason(err) != broker.ReasonUnavailable || got != nil {
		t.Fatalf("got %v, %v; want nil, unavailable", got, err)
	}
	if n := len(u.requests()); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

func TestNewOpenAIConfig(t *testing.T) {
	keys := staticKeys(testKey)
	tests := []struct {
		name string
		cfg  OpenAIConfig
		want []string // substrings of the error; none for success
	}{
		{name: "defaults", cfg: OpenAIConfig{}},
		{name: "azure without version", cfg: OpenAIConfig{Kind: "azure", BaseURL: "https://x.openai.azure.com"},
			want: []string{"azure needs"}},
		{name: "everything wrong", cfg: OpenAIConfig{Kind: "bedrock", BaseURL: "ftp://x", MaxTokensField: "tokens"},
			want: []string{`kind "bedrock"`, "base URL", `max tokens field "tokens"`}},
		{name: "credentials in the URL", cfg: OpenAIConfig{BaseURL: "https://user:pw@api.example.com/v1"},
			want: []string{"without credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOpenAI(tt.cfg, keys)
			if len(tt.want) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
	if _, err := NewOpenAI(OpenAIConfig{}, nil); err == nil {
		t.Error("NewOpenAI without keys succeeded")
	}
}

func BenchmarkOpenAIComplete(b *testing.B) {
	// A lean upstream: the recording one would dominate the figures.
	answer := []byte(chatJSON(helloMessage, "stop"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	o, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", KeyRef: "env:K"}, staticKeys(testKey))
	if err != nil {
		b.Fatal(err)
	}
	call := textCall("Summarize the attached changelog in one sentence.")
	call.Params.SystemPrompt = "You are a concise assistant."
	call.Params.Temperature = ptr(0.0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Complete(ctx, call); err != nil {
			b.Fatal(err)
		}
	}
}
