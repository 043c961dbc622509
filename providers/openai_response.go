package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/airlock-broker/airlock/broker"
	openai "github.com/sashabaranov/go-openai"
)

// This file reads a chat completion back into MCP terms. The answer is
// decoded into chatResponse, which holds only what the broker uses, in one
// pass; go-openai's types read the rare array-of-parts content.

// chatResponse is what the broker reads of a chat completion: go-openai's
// ChatCompletionResponse decodes a dozen more fields for every answer.
type chatResponse struct {
	Choices []chatChoice `json:"choices"`
	Usage   struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	StoppingWord stopString `json:"stopping_word"` // llama.cpp
}

type chatChoice struct {
	Message struct {
		// Content is a string, null, or (rarely) an array of parts.
		Content   any    `json:"content"`
		Refusal   string `json:"refusal"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"message"`
	FinishReason openai.FinishReason `json:"finish_reason"`
	StopReason   stopString          `json:"stop_reason"` // vLLM
	StoppingWord stopString          `json:"stopping_word"`
}

// stopString records whether a field is a non-empty JSON string: vLLM's
// stop_reason holds the stop string that ended the answer, or the number of
// the stop token; llama.cpp's stopping_word, the stop string or "".
type stopString bool

func (s *stopString) UnmarshalJSON(b []byte) error {
	*s = len(b) > 2 && b[0] == '"'
	return nil
}

// decodeChat decodes a 2xx answer's body into r.
func decodeChat(body []byte, r *chatResponse) error {
	err := json.Unmarshal(body, r)
	if err != nil {
		// go-openai decoded with a json.Decoder, which ignores whatever
		// follows the first value.
		*r = chatResponse{}
		err = json.NewDecoder(bytes.NewReader(body)).Decode(r)
	}
	return err
}

// messageText is the text of a message's content, which go-openai read as a
// string or as parts whose texts it joined. It fails where go-openai's
// decoding did.
func messageText(content any) (string, error) {
	switch c := content.(type) {
	case nil:
		return "", nil
	case string:
		return c, nil
	case []any:
		b, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		var parts []openai.ChatMessagePart
		if err := json.Unmarshal(b, &parts); err != nil {
			return "", err
		}
		var text strings.Builder
		for _, p := range parts {
			text.WriteString(p.Text)
		}
		return text.String(), nil
	}
	return "", fmt.Errorf("message content is a %T", content)
}

// fill maps the chat response into comp. It returns a *broker.Error with
// ReasonProviderError when the response is unusable.
func (o *OpenAI) fill(comp *broker.Completion, r *chatResponse, p *broker.CreateMessageParams) error {
	if len(r.Choices) == 0 {
		return broker.Errorf(broker.ReasonProviderError, "%s: upstream returned no choices", o.cfg.Name)
	}
	ch := &r.Choices[0]
	msg := &ch.Message
	text, err := messageText(msg.Content)
	if err != nil {
		return broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream sent an invalid response", o.cfg.Name))
	}
	if text == "" {
		text = msg.Refusal
	}
	comp.Content = make([]broker.Content, 0, 1+len(msg.ToolCalls))
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
	matched := bool(ch.StopReason || ch.StoppingWord || r.StoppingWord)
	comp.StopReason = stopReason(ch.FinishReason, len(msg.ToolCalls) > 0, len(p.StopSequences) > 0, matched)
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
// stopping_word: matchedStop says one of them did. Other finish reasons
// pass through unchanged.
func stopReason(fr openai.FinishReason, toolCalls, stopSeqs, matchedStop bool) string {
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
	case stopSeqs && matchedStop:
		return broker.StopStopSequence
	}
	return broker.StopEndTurn
}
