package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-broker/airlock/broker"
	openai "github.com/sashabaranov/go-openai"
)

// This file translates MCP sampling to a chat-completions request, written
// straight into a pooled buffer byte for byte as go-openai's
// ChatCompletionRequest marshalled (with temperature 0 kept on the wire).
// go-openai still decides the checks made before sending, the token field
// of reasoning models and Azure's deployment names. openai_response.go
// reads the answer.

// chatRequest is a chat request ready to send.
type chatRequest struct {
	url  string
	body *reqBody
	// refusal is why go-openai would not have sent the request: a model it
	// keeps off the endpoint, parameters its reasoning-model checks reject, a
	// value it cannot marshal, a URL it cannot build. Complete reports it
	// after fetching the key, where go-openai did.
	refusal error
}

// newChatRequest encodes call's chat request. It returns a *broker.Error
// with ReasonContentNotAllowed for content the chat API cannot carry.
func (o *OpenAI) newChatRequest(call *broker.Call) (*chatRequest, error) {
	p := call.Params
	model := call.Model.Upstream
	if model == "" {
		model = call.Model.Name
	}
	field := o.maxTokensField(model)
	r := &chatRequest{body: &reqBody{}}
	b, badValue, err := o.encode(make([]byte, 0, sizeHint(p)), model, field, p)
	if err != nil {
		return nil, err
	}
	r.body.b = b
	// In go-openai's order: its checks, marshalling, the URL.
	r.refusal = refuse(model, field, p)
	if r.refusal == nil {
		r.refusal = badValue
	}
	if r.refusal == nil {
		r.url, r.refusal = o.chatURL(model)
	}
	return r, nil
}

// maxTokensField is the configured field, or the one go-openai insists on
// for model: it refuses max_tokens for reasoning models before sending.
func (o *OpenAI) maxTokensField(model string) string {
	if f := o.cfg.MaxTokensField; f != "" {
		return f
	}
	probe := openai.ChatCompletionRequest{Model: model, MaxTokens: 1}
	if errors.Is(openai.NewReasoningValidator().Validate(probe), openai.ErrReasoningModelMaxTokensDeprecated) {
		return MaxCompletionTokens
	}
	return MaxTokens
}

// refuse runs the checks go-openai's CreateChatCompletion made before it
// sent a request, on the fields they read.
func refuse(model, field string, p *broker.CreateMessageParams) error {
	if !chatModel(model) {
		return openai.ErrChatCompletionInvalidModel
	}
	probe := openai.ChatCompletionRequest{Model: model}
	if field == MaxCompletionTokens {
		probe.MaxCompletionTokens = int(p.MaxTokens)
	} else {
		probe.MaxTokens = int(p.MaxTokens)
	}
	if t := p.Temperature; t != nil {
		probe.Temperature = float32(*t)
	}
	if len(p.Tools) > 0 {
		probe.Tools = make([]openai.Tool, len(p.Tools)) // the checks count them
		if tc := p.ToolChoice; tc != nil && tc.Mode != "" {
			probe.ToolChoice = tc.Mode
		}
	}
	return openai.NewReasoningValidator().Validate(probe)
}

// chatModel reports whether go-openai lets model use chat completions: it
// keeps the legacy completion models off.
func chatModel(model string) bool {
	switch model {
	case openai.CodexCodeDavinci002, openai.CodexCodeCushman001, openai.CodexCodeDavinci001,
		openai.GPT3TextDavinci003, openai.GPT3TextDavinci002, openai.GPT3TextCurie001,
		openai.GPT3TextBabbage001, openai.GPT3TextAda001, openai.GPT3TextDavinci001,
		openai.GPT3DavinciInstructBeta, openai.GPT3Davinci, openai.GPT3CurieInstructBeta,
		openai.GPT3Curie, openai.GPT3Ada, openai.GPT3Babbage:
		return false
	}
	return true
}

// chatURL is the URL of the chat endpoint for model: fixed for OpenAI; for
// Azure, under the deployment go-openai's DefaultAzureConfig names after
// the model.
func (o *OpenAI) chatURL(model string) (string, error) {
	if !o.azure {
		return o.chat, nil
	}
	dep := o.deployment(model)
	if dep == "" {
		dep = "UNKNOWN"
	}
	s := o.root + "/openai/deployments/" + dep + "/chat/completions?" +
		url.Values{"api-version": {o.cfg.APIVersion}}.Encode()
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != o.base.Scheme || u.Host != o.base.Host || !strings.HasPrefix(u.Path, o.base.Path) {
		return "", fmt.Errorf("openai: refusing to send a key to %s", u.Redacted())
	}
	return s, nil
}

// encode appends the chat request's JSON to b. err is a *broker.Error for
// content the chat API cannot carry; refusal, a value go-openai could not
// have marshalled.
func (o *OpenAI) encode(b []byte, model, field string, p *broker.CreateMessageParams) (_ []byte, refusal, err error) {
	b = slices.Grow(b, requestSize(p))
	b = append(b, '{')
	// A requested 0 (deterministic sampling) goes first, where the provider
	// used to patch it into go-openai's body: a float32 with omitempty, its
	// Temperature dropped 0, and the upstream would sample at its default 1.
	t := p.Temperature
	if t != nil && *t == 0 {
		b = append(b, `"temperature":0,`...)
	}
	b = append(b, `"model":`...)
	b = broker.AppendJSONString(b, model)
	if b, err = o.appendMessages(b, p); err != nil {
		return b, nil, err
	}
	if n := p.MaxTokens; n != 0 {
		b = append(b, ',', '"')
		b = append(b, field...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, n, 10)
	}
	if t != nil && float32(*t) != 0 {
		b = append(b, `,"temperature":`...)
		if b, refusal = appendJSONFloat32(b, float32(*t)); refusal != nil {
			return b, refusal, nil
		}
	}
	b = append(b, `,"stream":false`...)
	if len(p.StopSequences) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range p.StopSequences {
			if i > 0 {
				b = append(b, ',')
			}
			b = broker.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if len(p.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i := range p.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			if b, refusal = appendTool(b, &p.Tools[i]); refusal != nil {
				return b, refusal, nil
			}
		}
		b = append(b, ']')
		// OpenAI refuses tool_choice without tools.
		if tc := p.ToolChoice; tc != nil && tc.Mode != "" {
			b = append(b, `,"tool_choice":`...)
			b = broker.AppendJSONString(b, tc.Mode)
		}
	}
	return append(b, '}'), nil, nil
}

// requestSize estimates the encoded size of p, so that the buffer grows once.
func requestSize(p *broker.CreateMessageParams) int {
	n := 256 + len(p.SystemPrompt)
	for i := range p.Messages {
		for j := range p.Messages[i].Content {
			c := &p.Messages[i].Content[j]
			n += 64 + len(c.Text) + len(c.Data) + len(c.Input) + len(c.StructuredContent)
			for k := range c.Content {
				r := &c.Content[k]
				n += 8 + len(r.Text) + len(r.URI) + len(r.Resource)
			}
		}
	}
	for i := range p.Tools {
		t := &p.Tools[i]
		n += 64 + len(t.Name) + len(t.Description) + len(t.Title) + len(t.InputSchema)
	}
	return n + n/16 // escapes
}

// appendTool appends t as go-openai's Tool marshals: through a map, so
// "function" comes before "type".
func appendTool(b []byte, t *broker.Tool) (_ []byte, err error) {
	b = append(b, `{"function":{"name":`...)
	b = broker.AppendJSONString(b, t.Name)
	desc := t.Description
	if desc == "" {
		desc = t.Title
	}
	if desc != "" {
		b = append(b, `,"description":`...)
		b = broker.AppendJSONString(b, desc)
	}
	b = append(b, `,"parameters":`...)
	schema := t.InputSchema
	if len(schema) == 0 {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	if b, err = appendRawJSON(b, schema); err != nil {
		return b, err
	}
	return append(b, `},"type":"function"}`...), nil
}

// appendMessages appends the system prompt and the MCP messages as chat
// messages. A user message's tool results become "tool" messages, which
// must directly follow the assistant message that called the tools, so
// they go before what remains of the user message.
func (o *OpenAI) appendMessages(b []byte, p *broker.CreateMessageParams) (_ []byte, err error) {
	b = append(b, `,"messages":[`...)
	n := 0 // messages written
	if p.SystemPrompt != "" {
		b = append(b, `{"role":"system","content":`...)
		b = broker.AppendJSONString(b, p.SystemPrompt)
		b = append(b, '}')
		n++
	}
	for i := range p.Messages {
		m := &p.Messages[i]
		parts, calls, first := 0, 0, -1 // first part
		for j := range m.Content {
			c := &m.Content[j]
			switch {
			case c.Type == broker.ContentText, c.Type == broker.ContentImage && m.Role == broker.RoleUser:
				if first < 0 {
					first = j
				}
				parts++
			case c.Type == broker.ContentToolUse && m.Role == broker.RoleAssistant:
				calls++
			case c.Type == broker.ContentToolResult && m.Role == broker.RoleUser:
				if n > 0 {
					b = append(b, ',')
				}
				if b, err = o.appendToolResult(b, i, j, c); err != nil {
					return b, err
				}
				n++
			default:
				where := "a user message"
				if m.Role == broker.RoleAssistant {
					where = "an assistant message"
				}
				return b, o.cannotTake(contentPath(i, j), c.Type, where)
			}
		}
		if parts == 0 && calls == 0 {
			continue // only tool results
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		if m.Role == broker.RoleAssistant {
			b = append(b, `{"role":"assistant"`...)
		} else {
			b = append(b, `{"role":"user"`...)
		}
		switch {
		case parts == 1 && m.Content[first].Type == broker.ContentText:
			if s := m.Content[first].Text; s != "" {
				b = append(b, `,"content":`...)
				b = broker.AppendJSONString(b, s)
			}
		case parts > 0:
			b = append(b, `,"content":[`...)
			k := 0
			for j := range m.Content {
				if c := &m.Content[j]; c.Type == broker.ContentText || c.Type == broker.ContentImage {
					if k > 0 {
						b = append(b, ',')
					}
					k++
					b = appendPart(b, c)
				}
			}
			b = append(b, ']')
		}
		if calls > 0 {
			b = append(b, `,"tool_calls":[`...)
			k := 0
			for j := range m.Content {
				if c := &m.Content[j]; c.Type == broker.ContentToolUse {
					if k > 0 {
						b = append(b, ',')
					}
					k++
					b = appendToolCall(b, c)
				}
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func contentPath(i, j int) string {
	return fmt.Sprintf("messages[%d].content[%d]", i, j)
}

// appendPart appends a text or image block as a content part; images go as
// data URLs.
func appendPart(b []byte, c *broker.Content) []byte {
	if c.Type == broker.ContentImage {
		b = append(b, `{"type":"image_url","image_url":{"url":"data:`...)
		b = broker.AppendJSONStringBody(b, c.MIMEType)
		b = append(b, `;base64,`...)
		b = broker.AppendJSONStringBody(b, c.Data)
		return append(b, `"}}`...)
	}
	b = append(b, `{"type":"text"`...)
	if c.Text != "" {
		b = append(b, `,"text":`...)
		b = broker.AppendJSONString(b, c.Text)
	}
	return append(b, '}')
}

// appendToolCall appends a tool_use block as a function call. Empty
// arguments are sent as an empty object.
func appendToolCall(b []byte, c *broker.Content) []byte {
	b = append(b, '{')
	if c.ID != "" {
		b = append(b, `"id":`...)
		b = broker.AppendJSONString(b, c.ID)
		b = append(b, ',')
	}
	b = append(b, `"type":"function","function":{`...)
	if c.Name != "" {
		b = append(b, `"name":`...)
		b = broker.AppendJSONString(b, c.Name)
		b = append(b, ',')
	}
	b = append(b, `"arguments":`...)
	if len(c.Input) == 0 {
		b = append(b, `"{}"`...)
	} else {
		b = broker.AppendJSONString(b, []byte(c.Input))
	}
	return append(b, `}}`...)
}

// appendToolResult appends the tool message for tool result c, block j of
// message i: its text, resource links and embedded resources, one per line,
// or its structured content when it has none of those.
func (o *OpenAI) appendToolResult(b []byte, i, j int, c *broker.Content) ([]byte, error) {
	lines, empty := 0, true
	for k := range c.Content {
		switch r := &c.Content[k]; r.Type {
		case broker.ContentText, broker.ContentResourceLink, broker.ContentResource:
			lines++
			empty = empty && resultLineLen(r) == 0
		default:
			return b, o.cannotTake(fmt.Sprintf("%s.content[%d]", contentPath(i, j), k), r.Type, "a tool result")
		}
	}
	b = append(b, `{"role":"tool"`...)
	switch {
	case lines == 1 && empty:
		// go-openai omits an empty content.
	case lines > 0:
		b = append(b, `,"content":"`...)
		for k := range c.Content {
			if k > 0 {
				b = append(b, `\n`...)
			}
			b = appendResultLine(b, &c.Content[k])
		}
		b = append(b, '"')
	case len(c.StructuredContent) > 0:
		b = append(b, `,"content":`...)
		b = broker.AppendJSONString(b, []byte(c.StructuredContent))
	default:
		// OpenAI requires a content.
		b = append(b, `,"content":"(no content)"`...)
	}
	if c.ToolUseID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = broker.AppendJSONString(b, c.ToolUseID)
	}
	return append(b, '}'), nil
}

// appendResultLine appends the line of a tool result's text, resource_link
// or resource block, escaped.
func appendResultLine(b []byte, r *broker.Content) []byte {
	switch r.Type {
	case broker.ContentText:
		return broker.AppendJSONStringBody(b, r.Text)
	case broker.ContentResourceLink:
		return broker.AppendJSONStringBody(b, r.URI)
	}
	return broker.AppendJSONStringBody(b, []byte(r.Resource))
}

func resultLineLen(r *broker.Content) int {
	switch r.Type {
	case broker.ContentText:
		return len(r.Text)
	case broker.ContentResourceLink:
		return len(r.URI)
	}
	return len(r.Resource)
}

func (o *OpenAI) cannotTake(at, typ, where string) error {
	return broker.Errorf(broker.ReasonContentNotAllowed, "%s: provider %s cannot take %s content in %s", at, o.cfg.Name, typ, where)
}

// sizeHint is about the size of p's chat request: its text and a little
// more, so that the body is encoded without growing its buffer.
func sizeHint(p *broker.CreateMessageParams) int {
	n := 512 + len(p.SystemPrompt)
	for i := range p.Messages {
		for _, c := range p.Messages[i].Content {
			n += 64 + len(c.Text) + len(c.Data) + len(c.Input)
			for _, r := range c.Content {
				n += 64 + len(r.Text) + len(r.Data)
			}
		}
	}
	for _, t := range p.Tools {
		n += 64 + len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	return n + n/8 // escapes
}
