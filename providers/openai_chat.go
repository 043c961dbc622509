package providers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-broker/airlock/broker"
	openai "github.com/sashabaranov/go-openai"
)

// This file translates MCP sampling to chat completions and back.

// request builds the chat request for call. It returns a *broker.Error with
// ReasonContentNotAllowed for content the chat API cannot carry.
func (o *OpenAI) request(call *broker.Call) (openai.ChatCompletionRequest, error) {
	p := call.Params
	model := call.Model.Upstream
	if model == "" {
		model = call.Model.Name
	}
	msgs, err := o.messages(p)
	if err != nil {
		return openai.ChatCompletionRequest{}, err
	}
	r := openai.ChatCompletionRequest{Model: model, Messages: msgs, Stop: p.StopSequences}
	if t := p.Temperature; t != nil {
		r.Temperature = float32(*t) // 0 is restored on the wire by withZeroTemperature
	}
	if o.maxTokensField(model) == MaxCompletionTokens {
		r.MaxCompletionTokens = int(p.MaxTokens)
	} else {
		r.MaxTokens = int(p.MaxTokens)
	}
	for _, t := range p.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		desc := t.Description
		if desc == "" {
			desc = t.Title
		}
		r.Tools = append(r.Tools, openai.Tool{
			Type:     openai.ToolTypeFunction,
			Function: &openai.FunctionDefinition{Name: t.Name, Description: desc, Parameters: schema},
		})
	}
	// OpenAI refuses tool_choice without tools.
	if tc := p.ToolChoice; tc != nil && tc.Mode != "" && len(r.Tools) > 0 {
		r.ToolChoice = tc.Mode
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

// messages maps the system prompt and the MCP messages to chat messages. A
// user message's tool results become "tool" messages, which must directly
// follow the assistant message that called the tools.
func (o *OpenAI) messages(p *broker.CreateMessageParams) ([]openai.ChatCompletionMessage, error) {
	out := make([]openai.ChatCompletionMessage, 0, len(p.Messages)+1)
	if p.SystemPrompt != "" {
		out = append(out, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: p.SystemPrompt})
	}
	for i, m := range p.Messages {
		msg := openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser}
		if m.Role == broker.RoleAssistant {
			msg.Role = openai.ChatMessageRoleAssistant
		}
		var parts []openai.ChatMessagePart
		for j, c := range m.Content {
			at := fmt.Sprintf("messages[%d].content[%d]", i, j)
			switch {
			case c.Type == broker.ContentText:
				parts = append(parts, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeText, Text: c.Text})
			case c.Type == broker.ContentImage && m.Role == broker.RoleUser:
				parts = append(parts, openai.ChatMessagePart{
					Type:     openai.ChatMessagePartTypeImageURL,
					ImageURL: &openai.ChatMessageImageURL{URL: "data:" + c.MIMEType + ";base64," + c.Data},
				})
			case c.Type == broker.ContentToolUse && m.Role == broker.RoleAssistant:
				args := string(c.Input)
				if args == "" {
					args = "{}"
				}
				msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{
					ID: c.ID, Type: openai.ToolTypeFunction,
					Function: openai.FunctionCall{Name: c.Name, Arguments: args},
				})
			case c.Type == broker.ContentToolResult && m.Role == broker.RoleUser:
				text, err := o.toolResultText(at, c)
				if err != nil {
					return nil, err
				}
				out = append(out, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: c.ToolUseID, Content: text})
			default:
				where := "a user message"
				if m.Role == broker.RoleAssistant {
					where = "an assistant message"
				}
				return nil, o.cannotTake(at, c.Type, where)
			}
		}
		switch {
		case len(parts) == 1 && parts[0].Type == openai.ChatMessagePartTypeText:
			msg.Content = parts[0].Text
		case len(parts) > 0:
			msg.MultiContent = parts
		case len(msg.ToolCalls) == 0:
			continue // only tool results
		}
		out = append(out, msg)
	}
	return out, nil
}

// toolResultText is the content of the tool message for a tool result: its
// text, resource links and embedded resources, one per line, or its
// structured content when it has none of those.
func (o *OpenAI) toolResultText(at string, c broker.Content) (string, error) {
	var lines []string
	for j, b := range c.Content {
		switch b.Type {
		case broker.ContentText:
			lines = append(lines, b.Text)
		case broker.ContentResourceLink:
			lines = append(lines, b.URI)
		case broker.ContentResource:
			lines = append(lines, string(b.Resource))
		default:
			return "", o.cannotTake(fmt.Sprintf("%s.content[%d]", at, j), b.Type, "a tool result")
		}
	}
	switch {
	case len(lines) > 0:
		return strings.Join(lines, "\n"), nil
	case len(c.StructuredContent) > 0:
		return string(c.StructuredContent), nil
	}
	// go-openai drops an empty content, and OpenAI requires one.
	return "(no content)", nil
}

func (o *OpenAI) cannotTake(at, typ, where string) error {
	return broker.Errorf(broker.ReasonContentNotAllowed, "%s: provider %s cannot take %s content in %s", at, o.cfg.Name, typ, where)
}

// fill maps the chat response into comp. raw is the response body, for the
// fields go-openai does not decode. It returns a *broker.Error with
// ReasonProviderError when the response is unusable.
func (o *OpenAI) fill(comp *broker.Completion, r *openai.ChatCompletionResponse, raw []byte, p *broker.CreateMessageParams) error {
	if len(r.Choices) == 0 {
		return broker.Errorf(broker.ReasonProviderError, "%s: upstream returned no choices", o.cfg.Name)
	}
	msg := &r.Choices[0].Message
	text := msg.Content
	for _, part := range msg.MultiContent {
		text += part.Text
	}
	if text == "" {
		text = msg.Refusal
	}
	if text != "" || len(msg.ToolCalls) == 0 {
		comp.Content = append(comp.Content, broker.TextContent(text))
	}
	for i, tc := range msg.ToolCalls {
		input, ok := toolInput(tc.Function.Arguments)
		if !ok {
			return broker.Errorf(broker.ReasonProviderError, "%s: upstream tool call %d has arguments that are not a JSON object", o.cfg.Name, i)
		}
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i) // some servers omit it; MCP requires it
		}
		comp.Content = append(comp.Content, broker.Content{Type: broker.ContentToolUse, ID: id, Name: tc.Function.Name, Input: input})
	}
	comp.StopReason = stopReason(r.Choices[0].FinishReason, len(msg.ToolCalls) > 0, len(p.StopSequences) > 0, raw)
	comp.Usage = broker.Usage{PromptTokens: int64(r.Usage.PromptTokens), CompletionTokens: int64(r.Usage.CompletionTokens)}
	if d := r.Usage.PromptTokensDetails; d != nil {
		comp.Usage.CachedPromptTokens = int64(d.CachedTokens)
	}
	return nil
}

// toolInput parses tool call arguments as a JSON object. Empty arguments,
// which some servers send for a call without any, are an empty object.
func toolInput(args string) (json.RawMessage, bool) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage("{}"), true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return nil, false
	}
	return json.RawMessage(args), true
}

// StopContentFilter is the stop reason of an answer the upstream's content
// filter cut. MCP's stopReason is an open string.
const StopContentFilter = "contentFilter"

// stopReason maps a finish_reason to MCP. OpenAI says "stop" both at the end
// of a turn and at a stop sequence; vLLM tells them apart with a
// non-standard stop_reason holding the matched string, llama.cpp with
// stopping_word. Other finish reasons pass through unchanged.
func stopReason(fr openai.FinishReason, toolCalls, stopSeqs bool, raw []byte) string {
	switch {
	case toolCalls, fr == openai.FinishReasonToolCalls, fr == openai.FinishReasonFunctionCall:
		// Some servers say "stop" with tool calls; MCP wants toolUse.
		return broker.StopToolUse
	case fr == openai.FinishReasonLength:
		return broker.StopMaxTokens
	case fr == openai.FinishReasonContentFilter:
		return StopContentFilter
	case fr != openai.FinishReasonStop:
		return string(fr)
	case stopSeqs && matchedStopString(raw):
		return broker.StopStopSequence
	}
	return broker.StopEndTurn
}

// matchedStopString reports whether a raw chat response says it stopped at
// a stop string, in vLLM's or llama.cpp's dialect. vLLM's stop_reason is a
// number when a stop token, not a string, ended the answer.
func matchedStopString(raw []byte) bool {
	var r struct {
		Choices []struct {
			StopReason   json.RawMessage `json:"stop_reason"`
			StoppingWord json.RawMessage `json:"stopping_word"`
		} `json:"choices"`
		StoppingWord json.RawMessage `json:"stopping_word"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return false
	}
	nonEmpty := func(raw json.RawMessage) bool {
		var s string
		return json.Unmarshal(raw, &s) == nil && s != ""
	}
	if nonEmpty(r.StoppingWord) {
		return true
	}
	return len(r.Choices) > 0 && (nonEmpty(r.Choices[0].StopReason) || nonEmpty(r.Choices[0].StoppingWord))
}
