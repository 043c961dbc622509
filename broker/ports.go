package broker

import (
	"context"
	"time"
)

// This file declares what the pipeline consumes. Adapters in filters/,
// providers/ and quota/ implement these; cmd/airlock wires them.

// Provider calls an LLM. Complete may return a Completion holding the
// upstream status and attempt count together with an error. It returns a *Error with ReasonProviderError
// when the upstream fails or refuses (after its own bounded retries), and
// ReasonUnavailable when it cannot obtain a key. Other errors are internal.
type Provider interface {
	Complete(ctx context.Context, call *Call) (*Completion, error)
}

// Call is one sanitized request to a provider.
type Call struct {
	// RequestID identifies the broker request, for upstream correlation.
	RequestID string
	Model     Model
	// Params are sanitized, policy-applied params: maxTokens is clamped and
	// SystemPrompt is the final system prompt.
	Params *CreateMessageParams
	// KeyRef, when set, overrides the provider's key reference for this call
	// (a server pinned to its own provider account).
	KeyRef string
}

// Completion is the provider's answer.
type Completion struct {
	Content    []Content
	StopReason string
	Usage      Usage
	// Status is the upstream HTTP status of the final attempt (0 if none).
	Status   int
	Attempts int
	// Sanitized marks content that shows the sanitized prompt itself (the
	// echo model): restoring placeholders into it would hide exactly what
	// it is there to show, so the output stage leaves it as it is.
	Sanitized bool
}

// Usage is what the upstream reports it consumed.
type Usage struct {
	PromptTokens       int64
	CompletionTokens   int64
	CachedPromptTokens int64
}

// KeySource resolves a key reference such as "env:OPENAI_API_KEY",
// "file:/run/secrets/openai" or "vault:secret/llm/openai#api_key" to a key.
// Key returns a *Error with ReasonUnavailable when the backing store cannot
// be reached and the cached value is too stale. Refresh forces a re-read,
// used after the upstream rejected a key (rotation).
type KeySource interface {
	Key(ctx context.Context, ref string) (string, error)
	Refresh(ctx context.Context, ref string) (string, error)
}

// Scanner inspects and sanitizes traffic across the trust boundary.
type Scanner interface {
	// Input sanitizes p in place under server's policy: secrets and personal
	// data are replaced by placeholders, injections are scored. It returns a
	// Session that holds this request's placeholders and findings. A *Error
	// with ReasonInjectionDetected or ReasonContentBlocked refuses the
	// request; the Session is still returned so its findings can be audited.
	Input(ctx context.Context, server string, p *CreateMessageParams) (Session, error)
}

// Session is the scanner's state for one request.
type Session interface {
	// Output moderates r in place and restores placeholders that came from
	// this request only. A *Error with ReasonOutputBlocked refuses the result.
	Output(ctx context.Context, r *CreateMessageResult) error
	// Findings lists everything found so far, input and output.
	Findings() []Finding
}

// Finding is one thing a scanner found. It never holds the matched value:
// Fingerprint is a keyed hash so that equal values can be correlated.
type Finding struct {
	Stage       string  `json:"stage"` // "input" or "output"
	Type        string  `json:"type"`  // e.g. "secret", "pii", "injection", "link"
	Rule        string  `json:"rule"`  // e.g. "aws-access-key", "email"
	Action      string  `json:"action"`
	Confidence  float64 `json:"confidence"`
	Location    string  `json:"location,omitempty"` // e.g. "messages[2].content[0]"
	Fingerprint string  `json:"fingerprint,omitempty"`
}

// Quota holds and charges money and tokens against a server's limits.
type Quota interface {
	// Reserve atomically holds r against every limit that applies to
	// r.Server. It returns a *Error with ReasonBudgetExceeded or
	// ReasonRateLimited (with RetryAfter) when r does not fit; any other
	// error means the store is unreachable.
	Reserve(ctx context.Context, r Reservation) error
	// Settle replaces the hold of r (found by r.ID and r.Server) by its
	// actual charge and releases the rest. Settling the same reservation
	// again charges nothing more. A hold never settled nor released is
	// charged in full when it expires.
	Settle(ctx context.Context, r Reservation, actual Charge) error
	// Release drops the hold of r without charging it.
	Release(ctx context.Context, r Reservation) error
}

// Settlement is a reservation and what it actually cost.
type Settlement struct {
	Reservation
	Actual Charge
}

// BatchSettler is implemented by quotas that can apply many settlements in
// one round trip to their store. The broker uses it when settlements queue
// up under load.
type BatchSettler interface {
	// SettleBatch settles each of ss as Settle would; errs[i] is the
	// outcome of ss[i].
	SettleBatch(ctx context.Context, ss []Settlement) (errs []error)
}

// Reservation is the worst-case charge of a request.
type Reservation struct {
	ID     string
	Server string
	Model  string
	Charge
}

// Charge is an amount of money and tokens. Money is integer micro-dollars.
type Charge struct {
	MicroUSD int64 `json:"microUSD"`
	Tokens   int64 `json:"tokens"`
}

// TokenCounter estimates the prompt tokens a call will consume.
type TokenCounter interface {
	CountPrompt(m Model, p *CreateMessageParams) int64
}

// AuditSink records one event per request, whatever its outcome. An error
// fails the request unless the broker is configured to serve unaudited.
type AuditSink interface {
	Record(ctx context.Context, e *Event) error
}

// Checker reports whether a dependency is reachable, for /readyz.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckFunc adapts a function to Checker.
type CheckFunc func(ctx context.Context) error

// Check calls f.
func (f CheckFunc) Check(ctx context.Context) error { return f(ctx) }

// Clock returns the current time; tests inject a fixed one.
type Clock func() time.Time
