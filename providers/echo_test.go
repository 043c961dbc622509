package providers

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
)

func TestEcho(t *testing.T) {
	tests := []struct {
		name   string
		params broker.CreateMessageParams
		want   *broker.Completion
	}{{
		name: "conversation",
		params: broker.CreateMessageParams{
			SystemPrompt: "Be brief.", MaxTokens: 1000,
			Messages: []broker.SamplingMessage{
				user(text("What is this?"), broker.Content{Type: broker.ContentImage, Data: "iVBORw0KGgo=", MIMEType: "image/png"}),
				assistant(text("A PNG header.")),
			},
		},
		want: &broker.Completion{
			Content: []broker.Content{text("system: Be brief.\n\nuser: What is this?\n[image image/png, 8 bytes]\n\nassistant: A PNG header.")},
			// 91 bytes
			StopReason: broker.StopEndTurn, Usage: broker.Usage{PromptTokens: 23, CompletionTokens: 23}, Sanitized: true,
		},
	}, {
		name: "tools",
		params: broker.CreateMessageParams{
			MaxTokens: 1000, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceAuto},
			Tools: []broker.Tool{{Name: "get_weather"}, {Name: "now"}},
			Messages: []broker.SamplingMessage{
				assistant(broker.Content{Type: broker.ContentToolUse, ID: "c1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}),
				user(broker.Content{Type: broker.ContentToolResult, ToolUseID: "c1", IsError: ptr(true), Content: []broker.Content{text("no such city")}},
					broker.Content{Type: broker.ContentToolResult, ToolUseID: "c2", StructuredContent: json.RawMessage(`{"t":1}`)}),
			},
		},
		want: &broker.Completion{
			Content: []broker.Content{text(`assistant: [tool_use c1 get_weather {"city":"Paris"}]` + "\n\n" +
				"user: [tool_result c1 error] no such city\n[tool_result c2] {\"t\":1}\n\n" +
				"tools: get_weather, now (choice: auto)")},
			StopReason: broker.StopEndTurn, Usage: broker.Usage{PromptTokens: 41, CompletionTokens: 41}, Sanitized: true,
		},
	}, {
		name:   "cut at maxTokens",
		params: broker.CreateMessageParams{MaxTokens: 2, Messages: []broker.SamplingMessage{user(text("héllo wörld"))}},
		want: &broker.Completion{
			Content:    []broker.Content{text("user: h")}, // 8 bytes would split é
			StopReason: broker.StopMaxTokens, Usage: broker.Usage{PromptTokens: 5, CompletionTokens: 2}, Sanitized: true,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Echo{}.Complete(context.Background(), &broker.Call{Params: &tt.params})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("completion (-want +got):\n%s", diff)
			}
		})
	}
}
