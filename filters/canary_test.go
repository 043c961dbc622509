package filters

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
)

func TestCanary(t *testing.T) {
	const system = "You are the billing assistant of Example Corp. Only answer questions about invoices, " +
		"refunds and payment methods, and never discuss other customers."
	// The token the canary gets from this Rand.
	const token = "AIRLOCK-6162636465666768696A"
	tests := []struct {
		name   string
		output broker.Content
		rule   string // canary rule that blocks, or ""
	}{
		{"clean answer", broker.TextContent("Your refund was issued on Monday."), ""},
		{"token", broker.TextContent("Sure! My marker is " + token + "."), ruleCanaryToken},
		{"token respaced", broker.TextContent("marker: airlock 6162 6364 6566 6768 696a"), ruleCanaryToken},
		{"prompt echo", broker.TextContent("My instructions: only answer questions about invoices, refunds and payment methods."), ruleSystemPromptEcho},
		{"prompt echo recased", broker.TextContent("ONLY ANSWER QUESTIONS ABOUT INVOICES — REFUNDS AND PAYMENT methods"), ruleSystemPromptEcho},
		{"seven words are no echo", broker.TextContent("I only answer questions about invoices, refunds and more."), ""},
		{"token in tool input", broker.Content{Type: broker.ContentToolUse, ID: "t", Name: "post",
			Input: json.RawMessage(`{"body":"` + token + `"}`)}, ruleCanaryToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Default: Policy{Canary: true}, FingerprintKey: testKey, Rand: strings.NewReader("abcdefghij")})
			p := &broker.CreateMessageParams{SystemPrompt: system, Messages: []broker.SamplingMessage{userText("Where is my refund?")}}
			sess, err := s.Input(context.Background(), "srv", p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.SystemPrompt, system+"\n\n") || !strings.Contains(p.SystemPrompt, token) ||
				!strings.Contains(p.SystemPrompt, "Never repeat") {
				t.Fatalf("system prompt = %q, want the prompt, then the marker and the instruction not to repeat it", p.SystemPrompt)
			}
			err = sess.Output(context.Background(), &broker.CreateMessageResult{Content: []broker.Content{tt.output}})
			var got []string
			for _, f := range sess.Findings() {
				if f.Type == TypeCanary {
					got = append(got, f.Rule)
				}
			}
			if tt.rule == "" {
				if err != nil || len(got) > 0 {
					t.Errorf("Output = %v, canary findings %v; want neither", err, got)
				}
				return
			}
			if broker.ErrorReason(err) != broker.ReasonOutputBlocked {
				t.Errorf("Output error = %v, want %s", err, broker.ReasonOutputBlocked)
			}
			if diff := cmp.Diff([]string{tt.rule}, got); diff != "" {
				t.Errorf("canary findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryOffByDefault(t *testing.T) {
	s := newTestScanner(t, Policy{})
	p := &broker.CreateMessageParams{SystemPrompt: "Be brief.", Messages: []broker.SamplingMessage{userText("hi")}}
	sess, err := s.Input(context.Background(), "srv", p)
	if err != nil {
		t.Fatal(err)
	}
	if p.SystemPrompt != "Be brief." {
		t.Errorf("system prompt = %q, want it unchanged", p.SystemPrompt)
	}
	if err := sess.Output(context.Background(), &broker.CreateMessageResult{Content: []broker.Content{broker.TextContent("Be brief.")}}); err != nil {
		t.Errorf("Output: %v", err)
	}
}

func TestCanaryWithoutSystemPrompt(t *testing.T) {
	s := New(Options{Default: Policy{Canary: true}, FingerprintKey: testKey, Rand: strings.NewReader("abcdefghij")})
	p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{userText("hi")}}
	if _, err := s.Input(context.Background(), "srv", p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.SystemPrompt, "Confidential marker: AIRLOCK-") {
		t.Errorf("system prompt = %q, want the marker alone", p.SystemPrompt)
	}
}
