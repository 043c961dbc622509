package providers

import (
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
	"sync"
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
	// Default: a client with its own transport keeping up to 1,024 idle
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
// Complete writes the request body itself, byte for byte as go-openai's
// client did, sends it with the call's key as many times as the call needs
// (retrying, rotating the key on 401/403), and decodes only the fields of
// the answer the broker uses. go-openai keeps the rules: which models take
// which token field, what it refuses to send, Azure's deployment names.
type OpenAI struct {
	cfg   OpenAIConfig
	keys  broker.KeySource
	http  *http.Client
	base  *url.URL
	root  string // BaseURL without a trailing slash
	chat  string // the chat endpoint's URL, for OpenAI
	azure bool
	// deployment names an Azure deployment after the model.
	deployment func(model string) string
	sleep      func(ctx context.Context, d time.Duration) error

	bufs sync.Pool // of *[]byte, for answers
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
	hc := &http.Client{Transport: newTransport()}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	// A redirect could carry the key elsewhere: Go drops Authorization on a
	// cross-host redirect but not Azure's api-key header. The request it
	// would have sent is dropped with its body, which on a 307 or 308 holds
	// a reference to the pooled buffer.
	hc.CheckRedirect = func(next *http.Request, _ []*http.Request) error {
		if next.Body != nil {
			next.Body.Close()
		}
		return http.ErrUseLastResponse
	}

	o := &OpenAI{cfg: cfg, keys: keys, http: hc, base: base, azure: cfg.Kind == "azure", sleep: cfg.Sleep}
	if o.sleep == nil {
		o.sleep = sleepCtx
	}
	// The URLs go-openai's client built.
	o.root = strings.TrimRight(cfg.BaseURL, "/")
	o.chat = o.root + "/chat/completions"
	if o.azure {
		o.deployment = openai.DefaultAzureConfig("", cfg.BaseURL).GetAzureDeploymentByModel
	}
	return o, nil
}

// newTransport is the provider's own transport, sized for about a thousand
// calls in flight to one upstream, each holding its connection for the
// seconds a completion takes.
func newTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host, so under concurrency
	// every call beyond two dialled anew and left a socket in TIME_WAIT.
	// The broker admits 1,024 requests at once by default; idle ones still
	// close after IdleConnTimeout (90s).
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	// Every HTTP/1.1 connection keeps a read and a write buffer. 4 KiB (Go's
	// default, made explicit) takes the headers with a 2 KB prompt, or a
	// typical answer, in one system call; larger ones go past it. At a
	// thousand connections each KiB more would cost 2 MB.
	tr.ReadBufferSize = 4 << 10
	tr.WriteBufferSize = 4 << 10
	// Answers are a few KiB of JSON: gzip would save little on the wire and
	// cost a 40 KiB inflater per answer.
	tr.DisableCompression = true
	// The body is capped by MaxResponseBytes; the headers are capped here
	// (Go's default is 10 MiB).
	tr.MaxResponseHeaderBytes = 64 << 10
	return tr
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
	req, err := o.newChatRequest(call)
	if err != nil {
		return nil, err
	}
	st := &callState{ref: call.KeyRef, requestID: call.RequestID}
	if st.ref == "" {
		st.ref = o.cfg.KeyRef
	}
	if st.ref != "" {
		if st.key, err = o.keys.Key(ctx, st.ref); err != nil {
			return nil, keyError(ctx, st.ref, err)
		}
		if st.key == "" {
			return nil, broker.Errorf(broker.ReasonUnavailable, "key %s is empty", st.ref)
		}
	}

	comp := &broker.Completion{}
	if req.refusal != nil {
		if ctx.Err() != nil {
			return comp, o.ctxError(ctx)
		}
		// go-openai refused some requests itself, e.g. max_tokens for a
		// reasoning model. Its messages are constants, never upstream text.
		return comp, broker.Wrap(broker.ReasonProviderError, req.refusal, fmt.Sprintf("%s: request refused before sending", o.cfg.Name))
	}
	buf := o.getBuf()
	defer o.putBuf(buf)
	err = o.send(ctx, st, req, buf)
	comp.Status, comp.Attempts = st.status, st.attempts
	if err != nil {
		return comp, err
	}
	var r chatResponse
	if err := decodeChat(*buf, &r); err != nil {
		if ctx.Err() != nil {
			return comp, o.ctxError(ctx)
		}
		return comp, broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream sent an invalid response", o.cfg.Name))
	}
	if err := o.fill(comp, &r, call.Params); err != nil {
		return comp, err
	}
	return comp, nil
}

func (o *OpenAI) getBuf() *[]byte {
	if b, ok := o.bufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (o *OpenAI) putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		o.bufs.Put(b)
	}
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

// ctxError is the error for a done ctx: the client's cancellation as is, for
// the broker to log as such; a deadline as the upstream being too slow.
func (o *OpenAI) ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("call %s: %w", o.cfg.Name, ctx.Err())
	}
	return broker.Wrap(broker.ReasonProviderError, ctx.Err(), fmt.Sprintf("%s: upstream timed out", o.cfg.Name))
}

// callState is one Complete call as send sees it.
type callState struct {
	ref, key  string
	requestID string

	status   int // of the last attempt
	attempts int // HTTP attempts made
}

// errTooLarge reports a 2xx body over MaxResponseBytes.
var errTooLarge = errors.New("response too large")

// maxErrorBody caps what is read of an error response: only its type and
// code are used.
const maxErrorBody = 64 << 10

// send posts req with st's key as many times as the call needs and leaves
// the final 2xx answer in buf. Upstream failures come back as *broker.Error.
func (o *OpenAI) send(ctx context.Context, st *callState, req *chatRequest, buf *[]byte) error {
	rotated := false
	for retries := 0; ; {
		status, hdr, err := o.attempt(ctx, req, st, buf)
		st.attempts++
		st.status = status
		switch {
		case ctx.Err() != nil:
			return o.ctxError(ctx)
		case errors.Is(err, errTooLarge):
			return broker.Errorf(broker.ReasonProviderError, "%s: upstream response larger than %d bytes", o.cfg.Name, o.cfg.MaxResponseBytes)
		case err == nil && status >= 200 && status < 300:
			return nil
		case (status == http.StatusUnauthorized || status == http.StatusForbidden) && !rotated && st.ref != "":
			// The key may have been rotated: re-read it and try once more,
			// which is not a retry. The same key would fail the same way.
			rotated = true
			key, kerr := o.keys.Refresh(ctx, st.ref)
			if kerr != nil {
				return keyError(ctx, st.ref, kerr)
			}
			if key != "" && key != st.key {
				st.key = key
				continue
			}
		case retryable(status, err) && retries < o.cfg.MaxRetries:
			retries++
			if err := o.sleep(ctx, o.delay(retries, hdr)); err != nil {
				return o.ctxError(ctx)
			}
			continue
		}
		return o.failure(status, err, *buf, st.attempts)
	}
}

// attempt sends the request once, under its own timeout, and reads the
// answer into buf: whole when it is a 2xx, else up to maxErrorBody.
func (o *OpenAI) attempt(ctx context.Context, r *chatRequest, st *callState, buf *[]byte) (int, http.Header, error) {
	*buf = (*buf)[:0]
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, nil)
	if err != nil {
		return 0, nil, err // not expected: the URL was checked
	}
	// GetBody lets the transport resend the body on a fresh connection when
	// a kept-alive one turns out closed before anything was written.
	req.Body = r.body.reader()
	req.GetBody = func() (io.ReadCloser, error) { return r.body.reader(), nil }
	req.ContentLength = int64(len(r.body.b))
	req.Header = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
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
		return 0, nil, err
	}
	// Read to the end, then close, so that the connection is reused; a body
	// over the cap is not drained, and its connection is dropped.
	defer resp.Body.Close()
	limit := o.cfg.MaxResponseBytes
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	*buf, err = readCapped(*buf, resp.Body, limit, resp.ContentLength)
	switch {
	case err == nil:
	case err != errOverLimit:
		*buf = (*buf)[:0]
		return resp.StatusCode, resp.Header, err
	case limit == maxErrorBody:
		*buf = (*buf)[:0] // too big to be a real error object; keep only the status
	default:
		*buf = (*buf)[:0]
		return resp.StatusCode, resp.Header, errTooLarge
	}
	return resp.StatusCode, resp.Header, nil
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
