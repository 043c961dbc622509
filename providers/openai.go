package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-broker/airlock/broker"
	openai "github.com/sashabaranov/go-openai"
)

// OpenAIConfig configures an OpenAI-compatible provider. Every field has a
// working default; only KeyRef is needed to reach OpenAI itself.
type OpenAIConfig struct {
	// Name identifies the provider in error messages.
	Name string
	// Kind is "openai" (the default) or "azure". Azure follows go-openai's
	// DefaultAzureConfig: the model is the deployment name, the key goes in
	// the api-key header, and APIVersion is required.
	Kind string
	// BaseURL is the API root, e.g. https://api.openai.com/v1 (the default
	// for openai) or http://localhost:8000/v1 for vLLM. The key is only ever
	// sent there: redirects are not followed.
	BaseURL    string
	APIVersion string
	// KeyRef is the key reference used when a call does not bring its own,
	// e.g. "env:OPENAI_API_KEY". Empty sends no key, for local servers.
	KeyRef string
	// Timeout bounds each attempt. Default 60s.
	Timeout time.Duration
	// MaxRetries is how many extra attempts a retryable failure (429, 5xx,
	// transport error) gets. Negative means the default, 2; zero means none.
	MaxRetries int
	// Backoff is the delay before the first retry, doubled for each further
	// one, with jitter. Default 250ms.
	Backoff time.Duration
	// MaxBackoff caps any delay between attempts, including the upstream's
	// Retry-After. Default 10s.
	MaxBackoff time.Duration
	// MaxTokensField is "max_tokens" or "max_completion_tokens". Empty picks
	// max_completion_tokens for the models that require it (OpenAI's o-series
	// and gpt-5) and max_tokens, which every compatible server knows, for
	// the others.
	MaxTokensField string
	// MaxResponseBytes caps the response read from the upstream, so that a
	// hostile one cannot exhaust memory. Default 8 MiB.
	MaxResponseBytes int64
	// HTTPClient sends the requests. It is copied, with redirects disabled.
	// Default: a client with its own transport keeping up to 256 idle
	// connections to the upstream.
	HTTPClient *http.Client
	// Sleep waits between attempts, returning early with ctx's error; tests
	// inject one. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Values of OpenAIConfig.MaxTokensField.
const (
	MaxTokens           = "max_tokens"
	MaxCompletionTokens = "max_completion_tokens"
)

// OpenAI is a broker.Provider for the chat-completions API. It is safe for
// concurrent use.
//
// One go-openai client serves every call. Its HTTP doer, not the client,
// holds the key: Complete fetches the key per call and hands it to the doer
// in the request context, which also lets the doer retry, rotate the key on
// 401/403, cap the response and patch the request body.
type OpenAI struct {
	cfg    OpenAIConfig
	keys   broker.KeySource
	client *openai.Client
	http   *http.Client
	base   *url.URL
	azure  bool
	sleep  func(ctx context.Context, d time.Duration) error
}

var _ broker.Provider = (*OpenAI)(nil)

// NewOpenAI returns a provider for cfg that resolves its keys with keys. It
// reports every problem of cfg together.
func NewOpenAI(cfg OpenAIConfig, keys broker.KeySource) (*OpenAI, error) {
	var errs []error
	if cfg.Kind == "" {
		cfg.Kind = "openai"
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Kind
	}
	switch cfg.Kind {
	case "openai":
		if cfg.BaseURL == "" {
			cfg.BaseURL = "https://api.openai.com/v1"
		}
	case "azure":
		if cfg.BaseURL == "" || cfg.APIVersion == "" {
			errs = append(errs, errors.New("azure needs a base URL and an API version"))
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q is not openai or azure", cfg.Kind))
	}
	base, err := url.Parse(cfg.BaseURL)
	if cfg.BaseURL != "" && (err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.User != nil) {
		errs = append(errs, errors.New("base URL must be an http or https URL without credentials"))
	}
	switch cfg.MaxTokensField {
	case "", MaxTokens, MaxCompletionTokens:
	default:
		errs = append(errs, fmt.Errorf("max tokens field %q is not %s or %s", cfg.MaxTokensField, MaxTokens, MaxCompletionTokens))
	}
	if keys == nil {
		errs = append(errs, errors.New("no key source"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	cfg.Timeout = orDefault(cfg.Timeout, 60*time.Second)
	cfg.Backoff = orDefault(cfg.Backoff, 250*time.Millisecond)
	cfg.MaxBackoff = orDefault(cfg.MaxBackoff, 10*time.Second)
	cfg.MaxResponseBytes = orDefault(cfg.MaxResponseBytes, 8<<20)
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 2
	}
	// A transport of its own: the default keeps 2 idle connections per
	// host, so under concurrency every call beyond two dialled anew and
	// left a socket in TIME_WAIT.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: tr}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// A redirect could carry the key elsewhere: Go drops Authorization on a
	// cross-host redirect but not Azure's api-key header.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	o := &OpenAI{cfg: cfg, keys: keys, http: hc, base: base, azure: cfg.Kind == "azure", sleep: cfg.Sleep}
	if o.sleep == nil {
		o.sleep = sleepCtx
	}
	cc := openai.DefaultConfig("")
	if o.azure {
		cc = openai.DefaultAzureConfig("", cfg.BaseURL)
		cc.APIVersion = cfg.APIVersion
	}
	cc.BaseURL = cfg.BaseURL
	cc.HTTPClient = doer{o}
	o.client = openai.NewClientWithConfig(cc)
	return o, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Complete implements broker.Provider. It returns a *broker.Error with
// ReasonProviderError when the upstream fails, ReasonContentNotAllowed for
// content the chat API cannot take (audio), the key source's error when the
// key is unavailable, and an error wrapping context.Canceled when ctx is.
// On error the Completion, when not nil, still carries Status and Attempts.
func (o *OpenAI) Complete(ctx context.Context, call *broker.Call) (*broker.Completion, error) {
	if call.Params == nil {
		return nil, errors.New("complete: no params")
	}
	req, err := o.request(call)
	if err != nil {
		return nil, err
	}
	st := &callState{ref: call.KeyRef, requestID: call.RequestID}
	if st.ref == "" {
		st.ref = o.cfg.KeyRef
	}
	if t := call.Params.Temperature; t != nil && *t == 0 {
		st.zeroTemp = true
	}
	if st.ref != "" {
		if st.key, err = o.keys.Key(ctx, st.ref); err != nil {
			return nil, keyError(ctx, st.ref, err)
		}
		if st.key == "" {
			return nil, broker.Errorf(broker.ReasonUnavailable, "key %s is empty", st.ref)
		}
	}

	resp, err := o.client.CreateChatCompletion(context.WithValue(ctx, callKey{}, st), req)
	comp := &broker.Completion{Status: st.status, Attempts: st.attempts}
	if err != nil {
		return comp, o.callError(ctx, st, err)
	}
	if err := o.fill(comp, &resp, st.body, call.Params); err != nil {
		return comp, err
	}
	return comp, nil
}

// keyError passes a key source's *broker.Error through.
func keyError(ctx context.Context, ref string, err error) error {
	var e *broker.Error
	switch {
	case errors.As(err, &e):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("get key %s: %w", ref, ctx.Err())
	}
	return broker.Wrap(broker.ReasonUnavailable, err, fmt.Sprintf("key %s is unavailable", ref))
}

// callError classifies what CreateChatCompletion returned. The doer already
// returns *broker.Error for upstream failures; go-openai's own errors either
// refused the request before sending it or could not decode a 2xx answer.
func (o *OpenAI) callError(ctx context.Context, st *callState, err error) error {
	var e *broker.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, context.Canceled):
		return err // from ctxError
	case ctx.Err() != nil:
		return o.ctxError(ctx)
	case st.attempts == 0:
		// go-openai refuses some requests itself, e.g. max_tokens for a
		// reasoning model. Its messages are constants, never upstream text.
		return broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: request refused before sending", o.cfg.Name))
	}
	return broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream sent an invalid response", o.cfg.Name))
}

// ctxError is the error for a done ctx: the client's cancellation as is, for
// the broker to log as such; a deadline as the upstream being too slow.
func (o *OpenAI) ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("call %s: %w", o.cfg.Name, ctx.Err())
	}
	return broker.Wrap(broker.ReasonProviderError, ctx.Err(), fmt.Sprintf("%s: upstream timed out", o.cfg.Name))
}

// callKey carries a *callState in a request's context, from Complete through
// go-openai to the doer.
type callKey struct{}

// callState is one Complete call as the doer sees it. go-openai calls the
// doer on Complete's goroutine, so it needs no lock.
type callState struct {
	ref, key  string
	requestID string
	zeroTemp  bool

	status   int    // of the last attempt
	attempts int    // HTTP attempts made
	body     []byte // of the final 2xx response, for non-standard fields
}

// doer is go-openai's HTTP client. It receives the request go-openai built
// and sends it, with the call's key, as many times as the call needs.
type doer struct{ o *OpenAI }

// errTooLarge reports a 2xx body over MaxResponseBytes.
var errTooLarge = errors.New("response too large")

// maxErrorBody caps what is read of an error response: only its type and
// code are used.
const maxErrorBody = 64 << 10

// Do implements go-openai's HTTPDoer. Upstream failures come back as
// *broker.Error, which go-openai returns unchanged.
func (d doer) Do(req *http.Request) (*http.Response, error) {
	o := d.o
	ctx := req.Context()
	st, _ := ctx.Value(callKey{}).(*callState)
	if st == nil {
		return nil, errors.New("openai: request without call state")
	}
	if req.URL.Scheme != o.base.Scheme || req.URL.Host != o.base.Host || !strings.HasPrefix(req.URL.Path, o.base.Path) {
		return nil, fmt.Errorf("openai: refusing to send a key to %s", req.URL.Redacted())
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	if st.zeroTemp {
		body = withZeroTemperature(body)
	}

	rotated := false
	for retries := 0; ; {
		status, hdr, b, err := o.attempt(req, body, st)
		st.attempts++
		st.status = status
		switch {
		case ctx.Err() != nil:
			return nil, o.ctxError(ctx)
		case errors.Is(err, errTooLarge):
			return nil, broker.Errorf(broker.ReasonProviderError, "%s: upstream response larger than %d bytes", o.cfg.Name, o.cfg.MaxResponseBytes)
		case err == nil && status >= 200 && status < 300:
			st.body = b
			return &http.Response{
				Status: http.StatusText(status), StatusCode: status, Header: hdr,
				Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req,
			}, nil
		case (status == http.StatusUnauthorized || status == http.StatusForbidden) && !rotated && st.ref != "":
			// The key may have been rotated: re-read it and try once more,
			// which is not a retry. The same key would fail the same way.
			rotated = true
			key, kerr := o.keys.Refresh(ctx, st.ref)
			if kerr != nil {
				return nil, keyError(ctx, st.ref, kerr)
			}
			if key != "" && key != st.key {
				st.key = key
				continue
			}
		case retryable(status, err) && retries < o.cfg.MaxRetries:
			retries++
			if err := o.sleep(ctx, o.delay(retries, hdr)); err != nil {
				return nil, o.ctxError(ctx)
			}
			continue
		}
		return nil, o.failure(status, err, b, st.attempts)
	}
}

// attempt sends body once, under its own timeout, and reads the answer.
func (o *OpenAI) attempt(parent *http.Request, body []byte, st *callState) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(parent.Context(), o.cfg.Timeout)
	defer cancel()
	req := parent.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = nil
	switch {
	case st.key == "":
	case o.azure:
		req.Header.Set(openai.AzureAPIKeyHeader, st.key)
	default:
		req.Header.Set("Authorization", "Bearer "+st.key)
	}
	if st.requestID != "" {
		req.Header.Set("X-Client-Request-Id", st.requestID)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	limit := o.cfg.MaxResponseBytes
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return resp.StatusCode, resp.Header, nil, err
	case int64(len(b)) <= limit:
	case limit == maxErrorBody:
		b = b[:0] // too big to be a real error object; keep only the status
	default:
		return resp.StatusCode, resp.Header, nil, errTooLarge
	}
	return resp.StatusCode, resp.Header, b, nil
}

func retryable(status int, err error) bool {
	if err != nil {
		return true // transport error or attempt timeout
	}
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// delay is the wait before retry n (1-based): the upstream's Retry-After
// when it sends one, else exponential backoff with jitter; capped either way.
func (o *OpenAI) delay(n int, h http.Header) time.Duration {
	if d, ok := retryAfter(h); ok {
		return min(d, o.cfg.MaxBackoff)
	}
	d := o.cfg.Backoff << min(n-1, 20)
	if d <= 0 || d > o.cfg.MaxBackoff {
		d = o.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads OpenAI's retry-after-ms, else the standard Retry-After in
// seconds or as a date.
func retryAfter(h http.Header) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// failure is the error for a final failed attempt. The upstream's body is
// never quoted: OpenAI echoes part of a rejected key in its message, and a
// body may echo the prompt. Only the status and the error's type and code,
// when they look like identifiers, are kept.
func (o *OpenAI) failure(status int, err error, body []byte, attempts int) error {
	after := "after 1 attempt"
	if attempts != 1 {
		after = fmt.Sprintf("after %d attempts", attempts)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream timed out %s", o.cfg.Name, after))
	case err != nil:
		// Transport errors name the URL and the network cause, not the body.
		return broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream unreachable %s", o.cfg.Name, after))
	}
	msg := fmt.Sprintf("%s: upstream returned %d %s", o.cfg.Name, status, after)
	if kind := errorKind(body); kind != "" {
		msg += " (" + kind + ")"
	}
	return broker.Errorf(broker.ReasonProviderError, "%s", msg)
}

// errorKind returns the type and code of an OpenAI error body, joined by a
// slash, keeping only values that look like identifiers.
func errorKind(body []byte) string {
	var e struct {
		Error struct {
			Type json.RawMessage `json:"type"`
			Code json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if len(body) == 0 || json.Unmarshal(body, &e) != nil {
		return ""
	}
	var parts []string
	for _, raw := range []json.RawMessage{e.Error.Type, e.Error.Code} {
		var s string
		if json.Unmarshal(raw, &s) == nil && isIdentifier(s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

func isIdentifier(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

// withZeroTemperature adds "temperature":0 to a JSON object. go-openai's
// Temperature is a float32 with omitempty, so a requested 0 (deterministic
// sampling) would vanish from the wire and the upstream would sample at its
// default of 1. The body is go-openai's marshalling of a request struct
// whose Temperature is 0, so the field is known to be absent.
func withZeroTemperature(body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return body
	}
	out := make([]byte, 0, len(body)+17)
	out = append(out, `{"temperature":0`...)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}
