package broker

import (
	"errors"
	"fmt"
	"net/http"
)

// Reason is the stable, machine-readable cause of a refusal. The set is closed:
// clients may switch on it, so a value never changes meaning once released.
type Reason string

// The reasons Airlock answers with. Their HTTP status and JSON-RPC code are
// fixed in reasonClass, the only place that maps them.
const (
	ReasonParseError         Reason = "parse_error"         // body is not JSON
	ReasonInvalidRequest     Reason = "invalid_request"     // not a valid JSON-RPC request or MCP params
	ReasonMethodNotFound     Reason = "method_not_found"    // not sampling/createMessage
	ReasonUnsupportedVersion Reason = "unsupported_version" // unknown MCP-Protocol-Version
	ReasonTooLarge           Reason = "request_too_large"   // body, messages or parts over a cap
	ReasonUnauthenticated    Reason = "unauthenticated"     // missing or unknown bearer token
	ReasonAuthThrottled      Reason = "auth_throttled"      // too many failed logins from this address
	ReasonModelNotAllowed    Reason = "model_not_allowed"   // no allowed model can serve the request
	ReasonContextNotAllowed  Reason = "context_not_allowed" // includeContext value refused by policy
	ReasonContentNotAllowed  Reason = "content_not_allowed" // images, audio or tools refused by policy
	ReasonInjectionDetected  Reason = "injection_detected"  // prompt injection blocked
	ReasonContentBlocked     Reason = "content_blocked"     // input secret/PII/harmful content blocked
	ReasonOutputBlocked      Reason = "output_blocked"      // model output blocked by moderation
	ReasonBudgetExceeded     Reason = "budget_exceeded"     // worst-case cost does not fit the budget
	ReasonRateLimited        Reason = "rate_limited"        // request or token rate over the limit
	ReasonConcurrencyLimited Reason = "concurrency_limited" // too many requests in flight for this server
	ReasonOverloaded         Reason = "overloaded"          // too many requests in flight in the broker
	ReasonProviderError      Reason = "provider_error"      // the LLM upstream failed or refused
	ReasonUnavailable        Reason = "unavailable"         // a dependency (Redis, Vault, audit) is down
	ReasonInternal           Reason = "internal"            // a bug; details only in the log
)

// JSON-RPC error codes. CodeRejected is what MCP clients send when the user
// rejects a sampling request; Airlock uses it for every policy refusal so that
// servers handle a broker refusal exactly as a human's.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
	CodeRejected       = -1
	CodeUnauthorized   = -32001
	CodeUnavailable    = -32002
	CodeUpstream       = -32003
)

type class struct {
	status int
	code   int
}

var reasonClass = map[Reason]class{
	ReasonParseError:         {http.StatusBadRequest, CodeParseError},
	ReasonInvalidRequest:     {http.StatusBadRequest, CodeInvalidParams},
	ReasonMethodNotFound:     {http.StatusBadRequest, CodeMethodNotFound},
	ReasonUnsupportedVersion: {http.StatusBadRequest, CodeInvalidRequest},
	ReasonTooLarge:           {http.StatusRequestEntityTooLarge, CodeInvalidRequest},
	ReasonUnauthenticated:    {http.StatusUnauthorized, CodeUnauthorized},
	ReasonAuthThrottled:      {http.StatusTooManyRequests, CodeUnauthorized},
	ReasonModelNotAllowed:    {http.StatusForbidden, CodeRejected},
	ReasonContextNotAllowed:  {http.StatusForbidden, CodeRejected},
	ReasonContentNotAllowed:  {http.StatusForbidden, CodeRejected},
	ReasonInjectionDetected:  {http.StatusForbidden, CodeRejected},
	ReasonContentBlocked:     {http.StatusForbidden, CodeRejected},
	ReasonOutputBlocked:      {http.StatusForbidden, CodeRejected},
	ReasonBudgetExceeded:     {http.StatusTooManyRequests, CodeRejected},
	ReasonRateLimited:        {http.StatusTooManyRequests, CodeRejected},
	ReasonConcurrencyLimited: {http.StatusTooManyRequests, CodeRejected},
	ReasonOverloaded:         {http.StatusServiceUnavailable, CodeUnavailable},
	ReasonProviderError:      {http.StatusBadGateway, CodeUpstream},
	ReasonUnavailable:        {http.StatusServiceUnavailable, CodeUnavailable},
	ReasonInternal:           {http.StatusInternalServerError, CodeInternal},
}

// Reasons lists every reason, in documentation order.
func Reasons() []Reason {
	return []Reason{
		ReasonParseError, ReasonInvalidRequest, ReasonMethodNotFound, ReasonUnsupportedVersion,
		ReasonTooLarge, ReasonUnauthenticated, ReasonAuthThrottled, ReasonModelNotAllowed,
		ReasonContextNotAllowed, ReasonContentNotAllowed, ReasonInjectionDetected,
		ReasonContentBlocked, ReasonOutputBlocked, ReasonBudgetExceeded, ReasonRateLimited,
		ReasonConcurrencyLimited, ReasonOverloaded, ReasonProviderError, ReasonUnavailable,
		ReasonInternal,
	}
}

// HTTPStatus is the HTTP status Airlock answers with for r.
func (r Reason) HTTPStatus() int {
	if c, ok := reasonClass[r]; ok {
		return c.status
	}
	return http.StatusInternalServerError
}

// RPCCode is the JSON-RPC error code Airlock answers with for r.
func (r Reason) RPCCode() int {
	if c, ok := reasonClass[r]; ok {
		return c.code
	}
	return CodeInternal
}

// Error is Airlock's application error. Msg is safe to show the caller: it
// never holds prompt text, tokens or keys. Err is the wrapped cause, for logs.
type Error struct {
	Reason Reason
	Msg    string
	// Code overrides the reason's JSON-RPC code when non-zero (an envelope
	// error is -32600 although its reason is invalid_request).
	Code int
	// RetryAfter, in seconds, is sent as the Retry-After header when > 0.
	RetryAfter int
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// RPCCode is the JSON-RPC code for e.
func (e *Error) RPCCode() int {
	if e.Code != 0 {
		return e.Code
	}
	return e.Reason.RPCCode()
}

// Errorf returns an *Error with a formatted safe message.
func Errorf(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error for reason with a safe message and a cause for logs.
func Wrap(reason Reason, err error, msg string) *Error {
	return &Error{Reason: reason, Msg: msg, Err: err}
}

// AsError returns err as an *Error. An error that is not one becomes a bare
// internal error, so its text never reaches a client.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Reason: ReasonInternal, Msg: "internal error", Err: err}
}

// ErrorReason returns the reason of err, or ReasonInternal.
func ErrorReason(err error) Reason {
	if err == nil {
		return ""
	}
	return AsError(err).Reason
}
