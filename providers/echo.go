package providers

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Echo is a broker.Provider that calls no upstream: it answers with the
// prompt an LLM would have received, after the broker's sanitization and
// policy, rendered as text. It is what runs when no provider key is set, so
// that a newcomer sees the pipeline work end to end and what it sends.
//
// Usage is estimated at four bytes a token, rounded up, so budgets meter it
// like a real model. An answer longer than maxTokens allows is cut, with
// stop reason maxTokens, so the charge never exceeds the reservation.
type Echo struct{}

var _ broker.Provider = Echo{}

// Complete implements broker.Provider. It never fails but for a nil params.
func (Echo) Complete(_ context.Context, call *broker.Call) (*broker.Completion, error) {
	p := call.Params
	if p == nil {
		return nil, fmt.Errorf("echo: no params")
	}
	prompt := renderPrompt(p)
	text, stop := prompt, broker.StopEndTurn
	if limit := p.MaxTokens * 4; limit > 0 && int64(len(text)) > limit {
		text, stop = cutUTF8(text, int(limit)), broker.StopMaxTokens
	}
	return &broker.Completion{
		Content:    []broker.Content{broker.TextContent(text)},
		StopReason: stop,
		Usage: broker.Usage{
			PromptTokens:     tokens(len(prompt)),
			CompletionTokens: tokens(len(text)),
		},
		Sanitized: true,
	}, nil
}

func tokens(n int) int64 { return int64(n+3) / 4 }

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// renderPrompt renders p as readable text: the system prompt and each
// message as "role: content", separated by blank lines, media as a size
// instead of its data, tool calls and results with their ids, and the tools
// offered at the end.
func renderPrompt(p *broker.CreateMessageParams) string {
	var sections []string
	if p.SystemPrompt != "" {
		sections = append(sections, "system: "+p.SystemPrompt)
	}
	for _, m := range p.Messages {
		var blocks []string
		for _, c := range m.Content {
			blocks = append(blocks, renderBlock(c))
		}
		sections = append(sections, string(m.Role)+": "+strings.Join(blocks, "\n"))
	}
	if len(p.Tools) > 0 {
		names := make([]string, len(p.Tools))
		for i, t := range p.Tools {
			names[i] = t.Name
		}
		line := "tools: " + strings.Join(names, ", ")
		if tc := p.ToolChoice; tc != nil && tc.Mode != "" {
			line += " (choice: " + tc.Mode + ")"
		}
		sections = append(sections, line)
	}
	return strings.Join(sections, "\n\n")
}

func renderBlock(c broker.Content) string {
	switch c.Type {
	case broker.ContentText:
		return c.Text
	case broker.ContentImage, broker.ContentAudio:
		return fmt.Sprintf("[%s %s, %d bytes]", c.Type, c.MIMEType, decodedLen(c.Data))
	case broker.ContentToolUse:
		return fmt.Sprintf("[tool_use %s %s %s]", c.ID, c.Name, c.Input)
	case broker.ContentToolResult:
		var parts []string
		for _, b := range c.Content {
			parts = append(parts, renderBlock(b))
		}
		if len(parts) == 0 && len(c.StructuredContent) > 0 {
			parts = append(parts, string(c.StructuredContent))
		}
		head := "[tool_result " + c.ToolUseID
		if c.IsError != nil && *c.IsError {
			head += " error"
		}
		return head + "] " + strings.Join(parts, "\n")
	case broker.ContentResourceLink:
		return "[resource_link " + c.URI + "]"
	case broker.ContentResource:
		return "[resource " + string(c.Resource) + "]"
	}
	return "[" + c.Type + "]"
}

// decodedLen is the number of bytes base64 data decodes to.
func decodedLen(data string) int {
	n := base64.StdEncoding.DecodedLen(len(data))
	return n - strings.Count(data[max(0, len(data)-2):], "=")
}
