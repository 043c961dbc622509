package broker

import (
	"crypto/sha256"
	"fmt"
	"sync/atomic"
)

// System prompt policies.
const (
	SystemKeep    = "keep"    // send the server's system prompt as is
	SystemReplace = "replace" // send the operator's prompt instead
	SystemPrepend = "prepend" // send the operator's prompt, then the server's
)

// Policy is what one MCP server may do through the broker.
type Policy struct {
	// Models are the names of the models the server may use, in order of
	// preference. DefaultModel, if set, must be one of them; else the first.
	Models       []string
	DefaultModel string
	// RequireHintMatch refuses with model_not_allowed when the server gave
	// hints and none matched an allowed model, instead of falling back.
	RequireHintMatch bool

	// MaxTokens caps maxTokens: larger requests are clamped and the clamp
	// recorded. 0 means no cap beyond the model's.
	MaxTokens int64
	// IncludeContext lists the includeContext values allowed; empty means
	// only "none" (an absent includeContext is "none").
	IncludeContext []string
	AllowImages    bool
	AllowAudio     bool
	AllowTools     bool

	// SystemPromptMode is SystemKeep (default), SystemReplace or
	// SystemPrepend; SystemPrompt is the operator's prompt for the latter two.
	SystemPromptMode string
	SystemPrompt     string

	// MaxInFlight caps this server's concurrent requests; 0 is unlimited.
	MaxInFlight int
	// KeyRef, when set, pins the server to its own provider key.
	KeyRef string
	// AuditText records the sanitized prompt and response in the audit
	// event. Off by default; raw text is never recorded.
	AuditText bool
}

// Server is an MCP server allowed to sample through the broker.
type Server struct {
	ID string
	// TokenHashes are SHA-256 hashes of the server's bearer tokens.
	TokenHashes [][sha256.Size]byte
	Policy      Policy

	models   []Model // allowed models, resolved, in policy order
	def      int     // index of the default model in models
	inFlight atomic.Int64
}

// applyPolicy enforces p's permissions on params and clamps maxTokens. It
// reports whether maxTokens was clamped.
func applyPolicy(pol *Policy, p *CreateMessageParams, m Model) (clamped bool, err error) {
	ctx := p.IncludeContext
	if ctx == "" {
		ctx = ContextNone
	}
	if !contextAllowed(pol.IncludeContext, ctx) {
		return false, Errorf(ReasonContextNotAllowed, "includeContext %q is not allowed for this server", ctx)
	}
	if len(p.Tools) > 0 && !pol.AllowTools {
		return false, Errorf(ReasonContentNotAllowed, "tools are not allowed for this server")
	}
	if err := contentAllowed(pol, p.Messages); err != nil {
		return false, err
	}
	limit := pol.MaxTokens
	if m.MaxOutputTokens > 0 && (limit == 0 || m.MaxOutputTokens < limit) {
		limit = m.MaxOutputTokens
	}
	if limit > 0 && p.MaxTokens > limit {
		p.MaxTokens = limit
		clamped = true
	}
	return clamped, nil
}

func contextAllowed(allowed []string, v string) bool {
	if len(allowed) == 0 {
		return v == ContextNone
	}
	for _, a := range allowed {
		if a == v {
			return true
		}
	}
	return false
}

func contentAllowed(pol *Policy, msgs []SamplingMessage) error {
	var check func(c *Content) error
	check = func(c *Content) error {
		switch c.Type {
		case ContentImage:
			if !pol.AllowImages {
				return Errorf(ReasonContentNotAllowed, "images are not allowed for this server")
			}
		case ContentAudio:
			if !pol.AllowAudio {
				return Errorf(ReasonContentNotAllowed, "audio is not allowed for this server")
			}
		case ContentToolUse, ContentToolResult:
			if !pol.AllowTools {
				return Errorf(ReasonContentNotAllowed, "tool use is not allowed for this server")
			}
		}
		for i := range c.Content {
			if err := check(&c.Content[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range msgs {
		for j := range msgs[i].Content {
			if err := check(&msgs[i].Content[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// systemPrompt composes the system prompt the provider receives from the
// operator's policy and the server's (already sanitized) prompt.
func (pol *Policy) systemPrompt(server string) string {
	switch pol.SystemPromptMode {
	case SystemReplace:
		return pol.SystemPrompt
	case SystemPrepend:
		if server == "" {
			return pol.SystemPrompt
		}
		return pol.SystemPrompt + "\n\n" + server
	default:
		return server
	}
}

// validatePolicy reports what is wrong with pol for server id.
func validatePolicy(id string, pol *Policy) []error {
	var errs []error
	switch pol.SystemPromptMode {
	case "", SystemKeep:
	case SystemReplace, SystemPrepend:
		if pol.SystemPrompt == "" {
			errs = append(errs, fmt.Errorf("server %s: system prompt mode %q needs a system prompt", id, pol.SystemPromptMode))
		}
	default:
		errs = append(errs, fmt.Errorf("server %s: unknown system prompt mode %q (want keep, replace or prepend)", id, pol.SystemPromptMode))
	}
	for _, c := range pol.IncludeContext {
		switch c {
		case ContextNone, ContextThisServer, ContextAllServers:
		default:
			errs = append(errs, fmt.Errorf("server %s: unknown includeContext value %q", id, c))
		}
	}
	if pol.MaxTokens < 0 {
		errs = append(errs, fmt.Errorf("server %s: max tokens must not be negative", id))
	}
	if pol.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("server %s: max in flight must not be negative", id))
	}
	return errs
}
