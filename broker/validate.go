package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Validate checks p against the MCP schema of protocol version v and the
// structural limits in lim. It reports every problem it finds, not only the
// first, as one *Error: ReasonTooLarge when a count is over a cap, else
// ReasonInvalidRequest. Messages name fields, never their values.
func Validate(p *CreateMessageParams, v string, lim Limits) error {
	lim = lim.WithDefaults()
	switch {
	case len(p.Messages) > lim.MaxMessages:
		return Errorf(ReasonTooLarge, "more than %d messages", lim.MaxMessages)
	case len(p.Tools) > lim.MaxTools:
		return Errorf(ReasonTooLarge, "more than %d tools", lim.MaxTools)
	case len(p.StopSequences) > lim.MaxStopSequences:
		return Errorf(ReasonTooLarge, "more than %d stop sequences", lim.MaxStopSequences)
	}
	for i, m := range p.Messages {
		if len(m.Content) > lim.MaxParts {
			return Errorf(ReasonTooLarge, "messages[%d]: more than %d content blocks", i, lim.MaxParts)
		}
		for j, c := range m.Content {
			if len(c.Content) > lim.MaxParts {
				return Errorf(ReasonTooLarge, "messages[%d].content[%d]: more than %d content blocks", i, j, lim.MaxParts)
			}
		}
	}

	val := validator{version: v}
	if p.maxTokensErr != "" {
		val.add("%s", p.maxTokensErr)
	}
	if len(p.Messages) == 0 {
		val.add("messages must not be empty")
	}
	for i := range p.Messages {
		val.message(i, &p.Messages[i])
	}
	val.toolPairing(p.Messages)

	if mp := p.ModelPreferences; mp != nil {
		val.priority("costPriority", mp.CostPriority)
		val.priority("speedPriority", mp.SpeedPriority)
		val.priority("intelligencePriority", mp.IntelligencePriority)
	}
	switch p.IncludeContext {
	case "", ContextNone, ContextThisServer, ContextAllServers:
	default:
		val.add(`includeContext must be "none", "thisServer" or "allServers"`)
	}
	if t := p.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 2) {
		val.add("temperature must be between 0 and 2")
	}
	if len(p.Metadata) > 0 && !isJSONObject(p.Metadata) {
		val.add("metadata must be an object")
	}
	if len(p.Tools) > 0 || p.ToolChoice != nil {
		if !val.since(Version20251125) {
			val.add("tools and toolChoice require protocol version %s or later", Version20251125)
		}
	}
	names := make(map[string]bool, len(p.Tools))
	for i, t := range p.Tools {
		switch {
		case t.Name == "":
			val.add("tools[%d].name is required", i)
		case names[t.Name]:
			val.add("tools[%d].name is a duplicate", i)
		}
		names[t.Name] = true
		if !isSchemaObject(t.InputSchema) {
			val.add(`tools[%d].inputSchema must be a JSON Schema object with "type": "object"`, i)
		}
		// 2026-07-28 drops the rule that an output schema's root is an object.
		if len(t.OutputSchema) > 0 && !isJSONObject(t.OutputSchema) || !val.since(Version20260728) && len(t.OutputSchema) > 0 && !isSchemaObject(t.OutputSchema) {
			val.add(`tools[%d].outputSchema must be a JSON Schema object with "type": "object"`, i)
		}
	}
	if tc := p.ToolChoice; tc != nil {
		switch tc.Mode {
		case "", ToolChoiceAuto, ToolChoiceRequired, ToolChoiceNone:
		default:
			val.add(`toolChoice.mode must be "auto", "required" or "none"`)
		}
	}
	return val.err()
}

type validator struct {
	version  string
	problems []string
}

const maxReported = 10

func (v *validator) add(format string, args ...any) {
	if len(v.problems) <= maxReported {
		v.problems = append(v.problems, fmt.Sprintf(format, args...))
	}
}

func (v *validator) since(version string) bool { return v.version >= version }

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	if len(v.problems) > maxReported {
		v.problems = append(v.problems[:maxReported], "...")
	}
	return &Error{Reason: ReasonInvalidRequest, Msg: strings.Join(v.problems, "; ")}
}

func (v *validator) priority(name string, p *float64) {
	if p != nil && (math.IsNaN(*p) || *p < 0 || *p > 1) {
		v.add("modelPreferences.%s must be between 0 and 1", name)
	}
}

func (v *validator) message(i int, m *SamplingMessage) {
	if m.Role != RoleUser && m.Role != RoleAssistant {
		v.add(`messages[%d].role must be "user" or "assistant"`, i)
	}
	if m.contentArray && !v.since(Version20251125) {
		v.add("messages[%d].content: arrays of content require protocol version %s or later", i, Version20251125)
	}
	if len(m.Content) == 0 {
		v.add("messages[%d].content must not be empty", i)
	}
	results := 0
	for j := range m.Content {
		c := &m.Content[j]
		at := fmt.Sprintf("messages[%d].content[%d]", i, j)
		switch c.Type {
		case ContentToolUse:
			if !v.since(Version20251125) {
				v.add("%s: tool_use requires protocol version %s or later", at, Version20251125)
			} else if m.Role != RoleAssistant {
				v.add("%s: tool_use may only appear in an assistant message", at)
			}
			if c.ID == "" || c.Name == "" {
				v.add("%s: tool_use needs id and name", at)
			}
			if !isJSONObject(c.Input) {
				v.add("%s: tool_use input must be an object", at)
			}
		case ContentToolResult:
			results++
			if !v.since(Version20251125) {
				v.add("%s: tool_result requires protocol version %s or later", at, Version20251125)
			} else if m.Role != RoleUser {
				v.add("%s: tool_result may only appear in a user message", at)
			}
			if c.ToolUseID == "" {
				v.add("%s: tool_result needs toolUseId", at)
			}
			// 2026-07-28 allows any JSON value as structured content.
			if !v.since(Version20260728) && len(c.StructuredContent) > 0 && !isJSONObject(c.StructuredContent) {
				v.add("%s: structuredContent must be an object", at)
			}
			for k := range c.Content {
				v.block(fmt.Sprintf("%s.content[%d]", at, k), &c.Content[k], true)
			}
		default:
			v.block(at, c, false)
		}
	}
	if results > 0 && results != len(m.Content) {
		v.add("messages[%d]: a message with tool results must contain only tool results", i)
	}
}

// block checks a text, image or audio block; inResult allows the resource
// blocks a tool result may carry.
func (v *validator) block(at string, c *Content, inResult bool) {
	switch c.Type {
	case ContentText:
	case ContentImage, ContentAudio:
		if c.Type == ContentAudio && !v.since(Version20250326) {
			v.add("%s: audio requires protocol version %s or later", at, Version20250326)
		}
		if c.MIMEType == "" {
			v.add("%s: %s needs mimeType", at, c.Type)
		}
		if c.Data == "" || !validBase64(c.Data) {
			v.add("%s: %s data must be non-empty base64", at, c.Type)
		}
	case ContentResourceLink:
		if !inResult {
			v.add("%s: resource_link is only allowed inside a tool_result", at)
		} else if c.URI == "" || c.Name == "" {
			v.add("%s: resource_link needs uri and name", at)
		}
	case ContentResource:
		if !inResult {
			v.add("%s: resource is only allowed inside a tool_result", at)
		} else if !isJSONObject(c.Resource) {
			v.add("%s: resource must be an object", at)
		}
	case "":
		v.add("%s: type is required", at)
	default:
		v.add("%s: unknown content type", at)
	}
}

// toolPairing checks the spec's rule that every tool_use in an assistant
// message is answered by a tool_result with the same id in the next message,
// and that every tool_result answers a tool_use of the message before it.
func (v *validator) toolPairing(msgs []SamplingMessage) {
	var pending map[string]bool // tool_use ids of the previous message
	prev := -1
	for i, m := range msgs {
		uses := map[string]bool{}
		answered := map[string]bool{}
		for _, c := range m.Content {
			switch c.Type {
			case ContentToolUse:
				if c.ID != "" && uses[c.ID] {
					v.add("messages[%d]: duplicate tool_use id", i)
				}
				uses[c.ID] = true
			case ContentToolResult:
				if !pending[c.ToolUseID] {
					v.add("messages[%d]: tool_result does not answer a tool_use of the previous message", i)
				}
				answered[c.ToolUseID] = true
			}
		}
		for id := range pending {
			if !answered[id] {
				v.add("messages[%d]: tool_use in messages[%d] is not answered by a tool_result", prev+1, prev)
				break
			}
		}
		pending, prev = nil, -1
		if len(uses) > 0 {
			pending, prev = uses, i
		}
	}
	if pending != nil && prev == len(msgs)-1 {
		v.add("messages[%d]: tool_use must be answered by a tool_result before sampling", prev)
	}
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isSchemaObject(raw json.RawMessage) bool {
	if !isJSONObject(raw) {
		return false
	}
	var s struct {
		Type any `json:"type"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	return s.Type == "object"
}

// validBase64 accepts standard base64 with or without padding. It checks
// the alphabet and length without allocating a decoded copy.
func validBase64(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if len(s)-n > 2 || n%4 == 1 {
		return false
	}
	if len(s) != n && len(s)%4 != 0 {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
