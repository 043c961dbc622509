package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// MCP protocol versions Airlock understands, oldest first.
const (
	Version20241105 = "2024-11-05"
	Version20250326 = "2025-03-26"
	Version20250618 = "2025-06-18"
	Version20251125 = "2025-11-25"
	Version20260728 = "2026-07-28"

	LatestVersion = Version20260728
)

// Versions lists the supported protocol versions, oldest first. Dates compare
// as strings, which the feature checks rely on.
var Versions = []string{Version20241105, Version20250326, Version20250618, Version20251125, Version20260728}

// SupportedVersion reports whether v is a protocol version Airlock validates.
func SupportedVersion(v string) bool {
	for _, s := range Versions {
		if s == v {
			return true
		}
	}
	return false
}

// Role is the author of a sampling message.
type Role string

// The two roles a sampling message may have.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Content block types.
const (
	ContentText         = "text"
	ContentImage        = "image"
	ContentAudio        = "audio"
	ContentToolUse      = "tool_use"
	ContentToolResult   = "tool_result"
	ContentResourceLink = "resource_link" // only inside a tool_result
	ContentResource     = "resource"      // only inside a tool_result
)

// Content is one MCP content block. It is flat, as on the wire: which fields
// are meaningful depends on Type. Fields Airlock does not interpret are kept as
// raw JSON so they survive the trip.
type Content struct {
	Type string `json:"type"`

	// text
	Text string `json:"text,omitempty"`

	// image, audio: base64 data
	Data     string `json:"data,omitempty"`
	MIMEType string `json:"mimeType,omitempty"`

	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`

	// tool_result
	ToolUseID         string          `json:"toolUseId,omitempty"`
	Content           []Content       `json:"content,omitempty"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           *bool           `json:"isError,omitempty"`

	// resource_link and resource, inside a tool_result
	URI      string          `json:"uri,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`

	Annotations json.RawMessage `json:"annotations,omitempty"`
	Meta        json.RawMessage `json:"_meta,omitempty"`
}

// MarshalJSON writes the text field of a text block even when it is empty,
// as the schema requires it.
func (c Content) MarshalJSON() ([]byte, error) {
	w := wireWriter{b: make([]byte, 0, contentSize([]Content{c}))}
	w.content(&c)
	return w.bytes()
}

// TextContent returns a text content block.
func TextContent(s string) Content { return Content{Type: ContentText, Text: s} }

// SamplingMessage is one turn of the conversation a server asks to sample.
type SamplingMessage struct {
	Role    Role
	Content []Content
	Meta    json.RawMessage

	// contentArray records that content came as an array, which only
	// 2025-11-25 and later allow.
	contentArray bool
}

type wireMessage struct {
	Role    Role            `json:"role"`
	Content json.RawMessage `json:"content"`
	Meta    json.RawMessage `json:"_meta,omitempty"`
}

// UnmarshalJSON accepts content as one block or an array of blocks.
func (m *SamplingMessage) UnmarshalJSON(b []byte) error {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	blocks, isArray, err := decodeContent(w.Content)
	if err != nil {
		return err
	}
	*m = SamplingMessage{Role: w.Role, Content: blocks, Meta: w.Meta, contentArray: isArray}
	return nil
}

// MarshalJSON writes content as it came: one block as an object, an array
// as an array. It writes the fields of wireMessage.
func (m SamplingMessage) MarshalJSON() ([]byte, error) {
	w := wireWriter{b: make([]byte, 0, 32+contentSize(m.Content)+len(m.Meta))}
	w.b = append(w.b, `{"role":`...)
	w.b = AppendJSONString(w.b, string(m.Role))
	w.name("content")
	w.contents(m.Content, m.contentArray)
	w.raw("_meta", m.Meta)
	w.b = append(w.b, '}')
	return w.bytes()
}

func decodeContent(raw json.RawMessage) (blocks []Content, isArray bool, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, false, errors.New("content is required")
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &blocks); err != nil {
			return nil, true, err
		}
		return blocks, true, nil
	default:
		var c Content
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, false, err
		}
		return []Content{c}, false, nil
	}
}

// ModelHint names a model, or a family of them, as a substring.
type ModelHint struct {
	Name string `json:"name,omitempty"`
}

// ModelPreferences is the server's advice on model choice. A nil priority is
// absent; zero is a value.
type ModelPreferences struct {
	Hints                []ModelHint `json:"hints,omitempty"`
	CostPriority         *float64    `json:"costPriority,omitempty"`
	SpeedPriority        *float64    `json:"speedPriority,omitempty"`
	IntelligencePriority *float64    `json:"intelligencePriority,omitempty"`
}

// Tool is a tool the model may call, offered by the server (2025-11-25+).
type Tool struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
	Meta         json.RawMessage `json:"_meta,omitempty"`
}

// Tool choice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
	ToolChoiceNone     = "none"
)

// ToolChoice says whether and how the model must use the tools.
type ToolChoice struct {
	Mode string `json:"mode,omitempty"`
}

// includeContext values.
const (
	ContextNone       = "none"
	ContextThisServer = "thisServer"
	ContextAllServers = "allServers"
)

// CreateMessageParams are the params of sampling/createMessage. Optional
// numbers are pointers so that 0 is told apart from absent.
type CreateMessageParams struct {
	Messages         []SamplingMessage `json:"messages"`
	ModelPreferences *ModelPreferences `json:"modelPreferences,omitempty"`
	SystemPrompt     string            `json:"systemPrompt,omitempty"`
	IncludeContext   string            `json:"includeContext,omitempty"`
	Temperature      *float64          `json:"temperature,omitempty"`
	MaxTokens        int64             `json:"maxTokens"`
	StopSequences    []string          `json:"stopSequences,omitempty"`
	Metadata         json.RawMessage   `json:"metadata,omitempty"`
	Tools            []Tool            `json:"tools,omitempty"`
	ToolChoice       *ToolChoice       `json:"toolChoice,omitempty"`
	Meta             json.RawMessage   `json:"_meta,omitempty"`

	// maxTokensErr is why maxTokens was absent or not a positive integer;
	// Validate reports it with the other schema errors.
	maxTokensErr string
}

// UnmarshalJSON decodes params, accepting maxTokens as any JSON number with an
// integral value (the schema types it as number) and remembering what was wrong.
func (p *CreateMessageParams) UnmarshalJSON(b []byte) error {
	type alias CreateMessageParams
	w := struct {
		*alias
		MaxTokens json.RawMessage `json:"maxTokens"`
	}{alias: (*alias)(p)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p.MaxTokens, p.maxTokensErr = maxTokensOf(w.MaxTokens)
	return nil
}

// maxTokensOf reads the raw maxTokens value, nil when absent. It returns the
// count, or why there is none.
func maxTokensOf(raw json.RawMessage) (n int64, problem string) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return 0, "maxTokens is required"
	case raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f':
		return 0, "maxTokens must be a number"
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	switch {
	case err != nil || f != math.Trunc(f) || f > 1<<53:
		return 0, "maxTokens must be an integer"
	case f <= 0:
		return 0, "maxTokens must be greater than 0"
	}
	return int64(f), ""
}

// Stop reasons of a CreateMessageResult.
const (
	StopEndTurn      = "endTurn"
	StopStopSequence = "stopSequence"
	StopMaxTokens    = "maxTokens"
	StopToolUse      = "toolUse"
)

// CreateMessageResult is the answer to sampling/createMessage.
type CreateMessageResult struct {
	Role       Role
	Content    []Content
	Model      string
	StopReason string
	Meta       json.RawMessage
}

type wireResult struct {
	Role       Role            `json:"role"`
	Content    json.RawMessage `json:"content"`
	Model      string          `json:"model"`
	StopReason string          `json:"stopReason,omitempty"`
	Meta       json.RawMessage `json:"_meta,omitempty"`
}

// MarshalJSON writes one content block as an object and several as an array
// (arrays exist from 2025-11-25; the pipeline merges blocks for older versions).
// It writes the fields of wireResult.
func (r CreateMessageResult) MarshalJSON() ([]byte, error) {
	w := wireWriter{b: make([]byte, 0, 64+len(r.Model)+contentSize(r.Content)+len(r.Meta))}
	w.b = append(w.b, `{"role":`...)
	w.b = AppendJSONString(w.b, string(r.Role))
	w.name("content")
	w.contents(r.Content, false)
	w.name("model")
	w.b = AppendJSONString(w.b, r.Model)
	w.str("stopReason", r.StopReason)
	w.raw("_meta", r.Meta)
	w.b = append(w.b, '}')
	return w.bytes()
}

// UnmarshalJSON accepts content as one block or an array.
func (r *CreateMessageResult) UnmarshalJSON(b []byte) error {
	var w wireResult
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	blocks, _, err := decodeContent(w.Content)
	if err != nil {
		return err
	}
	*r = CreateMessageResult{Role: w.Role, Content: blocks, Model: w.Model, StopReason: w.StopReason, Meta: w.Meta}
	return nil
}

// Text joins the text blocks of r.
func (r *CreateMessageResult) Text() string {
	var b bytes.Buffer
	for _, c := range r.Content {
		if c.Type == ContentText {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}
