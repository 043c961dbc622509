package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MethodChatCompletions names the OpenAI-compatible front door in events.
const MethodChatCompletions = "chat.completions"

// The OpenAI-compatible front door: POST /v1/chat/completions runs the
// same pipeline as sampling (authentication, policy, redaction and
// restoration, injection checks, budgets, keys, moderation, audit), so a
// host that calls an LLM directly gets the same protection by changing a
// base URL. The request is translated to sampling params and the result
// back to the chat completions wire format.
//
// Streaming is honoured on the wire (server-sent events), but the answer is
// sent once it has been moderated and its placeholders restored, which
// needs the whole answer: the stream carries it in one content chunk.

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools      []chatTool      `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
	N          *int            `json:"n"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []chatToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// defaultChatMaxTokens is the cap used when a chat request names none and
// neither the server's policy nor the model sets one: the reservation needs
// a worst case.
const defaultChatMaxTokens = 4096

// chatToParams translates a chat completions request to sampling params.
func chatToParams(c *chatRequest, srv *Server) (*CreateMessageParams, error) {
	p := &CreateMessageParams{Temperature: c.Temperature}
	if c.N != nil && *c.N != 1 {
		return nil, Errorf(ReasonInvalidRequest, "only n=1 is supported")
	}
	if c.Model != "" {
		p.ModelPreferences = &ModelPreferences{Hints: []ModelHint{{Name: c.Model}}}
	}
	switch {
	case c.MaxCompletionTokens != nil:
		p.MaxTokens = *c.MaxCompletionTokens
	case c.MaxTokens != nil:
		p.MaxTokens = *c.MaxTokens
	case srv.Policy.MaxTokens > 0:
		p.MaxTokens = srv.Policy.MaxTokens
	default:
		p.MaxTokens = defaultChatMaxTokens
	}
	if p.MaxTokens <= 0 {
		p.maxTokensErr = "max_tokens must be greater than 0"
	}
	if len(c.Stop) > 0 && string(c.Stop) != "null" {
		var one string
		if json.Unmarshal(c.Stop, &one) == nil {
			p.StopSequences = []string{one}
		} else if json.Unmarshal(c.Stop, &p.StopSequences) != nil {
			return nil, Errorf(ReasonInvalidRequest, "stop must be a string or an array of strings")
		}
	}
	for _, t := range c.Tools {
		if t.Type != "function" {
			return nil, Errorf(ReasonInvalidRequest, "only function tools are supported")
		}
		schema := t.Function.Parameters
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		p.Tools = append(p.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(c.ToolChoice) > 0 && string(c.ToolChoice) != "null" {
		var mode string
		if json.Unmarshal(c.ToolChoice, &mode) != nil {
			mode = ToolChoiceRequired // {"type":"function",...}: a tool must be used
		}
		p.ToolChoice = &ToolChoice{Mode: mode}
	}
	var system []string
	for i, m := range c.Messages {
		switch m.Role {
		case "system", "developer":
			text, err := chatText(m.Content)
			if err != nil {
				return nil, Errorf(ReasonInvalidRequest, "messages[%d]: %v", i, err)
			}
			system = append(system, text)
		case "user", "assistant":
			blocks, err := chatBlocks(m.Content)
			if err != nil {
				return nil, Errorf(ReasonInvalidRequest, "messages[%d]: %v", i, err)
			}
			for _, tc := range m.ToolCalls {
				input := json.RawMessage(tc.Function.Arguments)
				if strings.TrimSpace(tc.Function.Arguments) == "" {
					input = json.RawMessage(`{}`)
				}
				blocks = append(blocks, Content{Type: ContentToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
			}
			p.Messages = append(p.Messages, SamplingMessage{Role: Role(m.Role), Content: blocks, contentArray: true})
		case "tool":
			text, err := chatText(m.Content)
			if err != nil {
				return nil, Errorf(ReasonInvalidRequest, "messages[%d]: %v", i, err)
			}
			res := Content{Type: ContentToolResult, ToolUseID: m.ToolCallID, Content: []Content{TextContent(text)}}
			// Consecutive tool messages answer one assistant turn together.
			if n := len(p.Messages); n > 0 && p.Messages[n-1].Role == RoleUser && p.Messages[n-1].Content[0].Type == ContentToolResult {
				p.Messages[n-1].Content = append(p.Messages[n-1].Content, res)
			} else {
				p.Messages = append(p.Messages, SamplingMessage{Role: RoleUser, Content: []Content{res}, contentArray: true})
			}
		default:
			return nil, Errorf(ReasonInvalidRequest, "messages[%d]: unknown role", i)
		}
	}
	p.SystemPrompt = strings.Join(system, "\n\n")
	return p, nil
}

// chatText reads content that must be text: a string or text parts.
func chatText(raw json.RawMessage) (string, error) {
	blocks, err := chatBlocks(raw)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, b := range blocks {
		if b.Type != ContentText {
			return "", errors.New("only text is allowed here")
		}
		sb.WriteString(b.Text)
	}
	return sb.String(), nil
}

// chatBlocks reads content as a string, null, or an array of parts.
func chatBlocks(raw json.RawMessage) ([]Content, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New("content must be a string or an array of parts")
		}
		return []Content{TextContent(s)}, nil
	case raw[0] == '[':
		var parts []chatPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, errors.New("content must be a string or an array of parts")
		}
		out := make([]Content, 0, len(parts))
		for _, part := range parts {
			switch part.Type {
			case "text":
				out = append(out, TextContent(part.Text))
			case "image_url":
				if part.ImageURL == nil {
					return nil, errors.New("image_url part without a url")
				}
				mime, data, ok := parseDataURL(part.ImageURL.URL)
				if !ok {
					// A remote image cannot be inspected here and would
					// be fetched by the provider: refuse it.
					return nil, errors.New("images must be base64 data: URLs")
				}
				out = append(out, Content{Type: ContentImage, MIMEType: mime, Data: data})
			default:
				return nil, errors.New("unsupported content part type")
			}
		}
		return out, nil
	}
	return nil, errors.New("content must be a string or an array of parts")
}

func parseDataURL(u string) (mime, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mime, found = strings.CutSuffix(meta, ";base64")
	return mime, data, found && mime != ""
}

var finishReasons = map[string]string{
	StopEndTurn:      "stop",
	StopStopSequence: "stop",
	StopMaxTokens:    "length",
	StopToolUse:      "tool_calls",
	"contentFilter":  "content_filter",
}

type chatChoiceMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	ToolCalls []chatToolCall `json:"tool_calls,omitempty"`
}

type chatUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// chatMessageOf turns a result into the assistant message and finish reason.
func chatMessageOf(res *CreateMessageResult) (chatChoiceMessage, string) {
	msg := chatChoiceMessage{Role: "assistant"}
	var text strings.Builder
	hasText := false
	for _, c := range res.Content {
		switch c.Type {
		case ContentText:
			text.WriteString(c.Text)
			hasText = true
		case ContentToolUse:
			var tc chatToolCall
			tc.ID, tc.Type = c.ID, "function"
			tc.Function.Name, tc.Function.Arguments = c.Name, string(c.Input)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if hasText || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	finish, ok := finishReasons[res.StopReason]
	if !ok {
		finish = "stop"
	}
	return msg, finish
}

func (h *httpAPI) chatCompletions(w http.ResponseWriter, r *http.Request) {
	b := h.b
	ev := b.NewEvent(MethodChatCompletions)
	addr := remoteAddr(r)
	ev.Caller = addr.String()
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.chatError(w, r, ev, b.Audit(r.Context(), ev, Errorf(ReasonOverloaded, "too many requests in flight")))
		return
	}
	srv, fp, err := h.authenticate(r, addr)
	if err != nil {
		h.chatError(w, r, ev, b.Audit(r.Context(), ev, err))
		return
	}
	ev.Server = srv.ID
	ev.Caller = fp + "@" + addr.String()
	if release, err := h.admitServer(srv); err != nil {
		h.chatError(w, r, ev, b.Audit(r.Context(), ev, err))
		return
	} else {
		defer release()
	}
	ev.Version = LatestVersion
	body, err := h.readBody(w, r)
	if err == nil {
		err = checkJSON(body, b.opts.Limits)
	}
	var c chatRequest
	if err == nil {
		if jerr := json.Unmarshal(body, &c); jerr != nil {
			err = &Error{Reason: ReasonInvalidRequest, Msg: "body is not a chat completions request: " + describeDecodeError(jerr), Err: jerr}
		}
	}
	var p *CreateMessageParams
	if err == nil {
		p, err = chatToParams(&c, srv)
	}
	if err != nil {
		h.chatError(w, r, ev, b.Audit(r.Context(), ev, err))
		return
	}
	res, err := b.Sample(r.Context(), srv, &Request{Version: LatestVersion, Params: *p}, ev)
	if err != nil {
		h.chatError(w, r, ev, err)
		return
	}
	msg, finish := chatMessageOf(res)
	usage := chatUsage{PromptTokens: ev.PromptTokens, CompletionTokens: ev.CompletionTokens, TotalTokens: ev.PromptTokens + ev.CompletionTokens}
	id, created := "chatcmpl-"+ev.ID, ev.Time.Unix()
	w.Header().Set("X-Request-Id", ev.ID)
	if !c.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": res.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage,
		})
		h.logRequest(r, ev, http.StatusOK, nil)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	chunk := func(delta any, finish *string, u *chatUsage) {
		choices := []any{}
		if delta != nil {
			choices = append(choices, map[string]any{"index": 0, "delta": delta, "finish_reason": finish})
		}
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": res.Model, "choices": choices}
		if u != nil {
			c["usage"] = u
		}
		data, _ := json.Marshal(c)
		fmt.Fprintf(w, "data: %s\n\n", data)
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)
	delta := map[string]any{}
	if msg.Content != nil && *msg.Content != "" {
		delta["content"] = *msg.Content
	}
	if len(msg.ToolCalls) > 0 {
		calls := make([]any, len(msg.ToolCalls))
		for i, tc := range msg.ToolCalls {
			calls[i] = map[string]any{"index": i, "id": tc.ID, "type": "function", "function": tc.Function}
		}
		delta["tool_calls"] = calls
	}
	if len(delta) > 0 {
		chunk(delta, nil, nil)
	}
	chunk(map[string]any{}, &finish, nil)
	if c.StreamOptions != nil && c.StreamOptions.IncludeUsage {
		chunk(nil, nil, &usage)
	}
	io.WriteString(w, "data: [DONE]\n\n")
	h.logRequest(r, ev, http.StatusOK, nil)
}

// chatError answers in OpenAI's error format, with the reason as the code.
func (h *httpAPI) chatError(w http.ResponseWriter, r *http.Request, ev *Event, err error) {
	if r.Context().Err() != nil {
		h.logRequest(r, ev, 499, err)
		return
	}
	e := AsError(err)
	status := e.Reason.HTTPStatus()
	msg := e.Msg
	if e.Reason == ReasonInternal {
		msg = "internal error"
	}
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusForbidden:
		typ = "permission_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "api_error"
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.Header().Set("X-Request-Id", ev.ID)
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": e.Reason, "param": nil}})
	h.logRequest(r, ev, status, err)
}
