package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/airlock-broker/airlock/broker"
	openai "github.com/sashabaranov/go-openai"
)

// This file keeps the provider's previous path, through go-openai's client
// and types, as the reference the differential tests compare the direct
// encoder and the minimal decoder with. It is the code as it was, with the
// receiver made an argument.

// legacyWire is what the go-openai path put on the wire for a call.
type legacyWire struct {
	URL     string
	Body    []byte
	Header  http.Header
	Refused error // go-openai refused to send it
}

// errCaptured stops go-openai's client once the request is captured.
var errCaptured = errors.New("captured")

type captureDoer struct{ req *http.Request }

func (d *captureDoer) Do(req *http.Request) (*http.Response, error) {
	d.req = req
	return nil, errCaptured
}

// legacySend runs call through the old translation and go-openai's client,
// and captures the request it sends, with the body patch the old doer made.
// err is the translation's error (content the chat API cannot take).
func legacySend(o *OpenAI, call *broker.Call) (legacyWire, error) {
	req, err := legacyRequest(o, call)
	if err != nil {
		return legacyWire{}, err
	}
	doer := &captureDoer{}
	cc := openai.DefaultConfig("")
	if o.azure {
		cc = openai.DefaultAzureConfig("", o.cfg.BaseURL)
		cc.APIVersion = o.cfg.APIVersion
	}
	cc.BaseURL = o.cfg.BaseURL
	cc.HTTPClient = doer
	_, err = openai.NewClientWithConfig(cc).CreateChatCompletion(context.Background(), req)
	if !errors.Is(err, errCaptured) {
		return legacyWire{Refused: err}, nil
	}
	body, err := io.ReadAll(doer.req.Body)
	if err != nil {
		return legacyWire{}, err
	}
	if t := call.Params.Temperature; t != nil && *t == 0 {
		body = legacyWithZeroTemperature(body)
	}
	return legacyWire{URL: doer.req.URL.String(), Body: body, Header: doer.req.Header}, nil
}

func legacyRequest(o *OpenAI, call *broker.Call) (openai.ChatCompletionRequest, error) {
	p := call.Params
	model := call.Model.Upstream
	if model == "" {
		model = call.Model.Name
	}
	msgs, err := legacyMessages(o, p)
	if err != nil {
		return openai.ChatCompletionRequest{}, err
	}
	r := openai.ChatCompletionRequest{Model: model, Messages: msgs, Stop: p.StopSequences}
	if t := p.Temperature; t != nil {
		r.Temperature = float32(*t) // 0 is restored on the wire by withZeroTemperature
	}
	if legacyMaxTokensField(o, model) == MaxCompletionTokens {
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
	if tc := p.ToolChoice; tc != nil && tc.Mode != "" && len(r.Tools) > 0 {
		r.ToolChoice = tc.Mode
	}
	return r, nil
}

func legacyMaxTokensField(o *OpenAI, model string) string {
	if f := o.cfg.MaxTokensField; f != "" {
		return f
	}
	probe := openai.ChatCompletionRequest{Model: model, MaxTokens: 1}
	if errors.Is(openai.NewReasoningValidator().Validate(probe), openai.ErrReasoningModelMaxTokensDeprecated) {
		return MaxCompletionTokens
	}
	return MaxTokens
}

func legacyMessages(o *OpenAI, p *broker.CreateMessageParams) ([]openai.ChatCompletionMessage, error) {
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
				text, err := legacyToolResultText(o, at, c)
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

func legacyToolResultText(o *OpenAI, at string, c broker.Content) (string, error) {
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
	return "(no content)", nil
}

func legacyWithZeroTemperature(body []byte) []byte {
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

// legacyDecode is what the old path made of a 2xx answer: go-openai's
// decoding (a json.Decoder into its ChatCompletionResponse), then fill.
func legacyDecode(o *OpenAI, body []byte, p *broker.CreateMessageParams) (*broker.Completion, error) {
	var r openai.ChatCompletionResponse
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&r); err != nil {
		return nil, broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream sent an invalid response", o.cfg.Name))
	}
	comp := &broker.Completion{}
	return comp, legacyFill(o, comp, &r, body, p)
}

func legacyFill(o *OpenAI, comp *broker.Completion, r *openai.ChatCompletionResponse, raw []byte, p *broker.CreateMessageParams) error {
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
			id = fmt.Sprintf("call_%d", i)
		}
		comp.Content = append(comp.Content, broker.Content{Type: broker.ContentToolUse, ID: id, Name: tc.Function.Name, Input: input})
	}
	fr := r.Choices[0].FinishReason
	comp.StopReason = stopReason(fr, len(msg.ToolCalls) > 0, len(p.StopSequences) > 0,
		fr == openai.FinishReasonStop && len(p.StopSequences) > 0 && legacyMatchedStopString(raw))
	comp.Usage = broker.Usage{PromptTokens: int64(r.Usage.PromptTokens), CompletionTokens: int64(r.Usage.CompletionTokens)}
	if d := r.Usage.PromptTokensDetails; d != nil {
		comp.Usage.CachedPromptTokens = int64(d.CachedTokens)
	}
	return nil
}

func legacyMatchedStopString(raw []byte) bool {
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
