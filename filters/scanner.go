package filters

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Scanner implements broker.Scanner. It is safe for concurrent use.
type Scanner struct {
	eng        *engine
	labels     *automaton // placeholder labels, for restoring output
	policies   map[string]*policy
	def        *policy
	key        []byte
	moderators []Moderator
	harm       *HarmClassifier // for policies with Harmful on
	rand       io.Reader
	log        *slog.Logger
}

var (
	_ broker.Scanner = (*Scanner)(nil)
	_ broker.Session = (*Session)(nil)
)

// New returns a Scanner. Policy values it does not know fail closed (an
// unknown action blocks); call Options.Validate first to report them. New
// panics if a rule in opts.Rules is malformed.
func New(opts Options) *Scanner {
	rules := opts.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	s := &Scanner{
		eng:        newEngine(rules),
		policies:   map[string]*policy{},
		key:        slices.Clone(opts.FingerprintKey),
		moderators: opts.Moderators,
		rand:       opts.Rand,
		log:        opts.Logger,
	}
	s.labels = newAutomaton(s.eng.labels)
	s.def = compilePolicy(opts.Default, s.eng.rules)
	for id, p := range opts.Policies {
		s.policies[id] = compilePolicy(p, s.eng.rules)
	}
	for _, p := range append([]*policy{s.def}, mapValues(s.policies)...) {
		if p.harmful != HarmOff && s.harm == nil {
			s.harm = NewHarmClassifier(HarmBlock)
		}
	}
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		rand.Read(s.key)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Input implements broker.Scanner. It sanitizes the system prompt, every
// message's text, tool_use inputs, tool_result contents and structured
// contents, embedded resources, and the tools' titles, descriptions and
// schemas. Images and audio are not scanned.
func (s *Scanner) Input(ctx context.Context, server string, p *broker.CreateMessageParams) (broker.Session, error) {
	ss := s.newSession(server)
	if p.SystemPrompt != "" {
		p.SystemPrompt = ss.process(p.SystemPrompt, scopeSystem, "systemPrompt")
	}
	for i := range p.Messages {
		if err := ctx.Err(); err != nil {
			return ss, err
		}
		m := &p.Messages[i]
		sc := scopeUser
		if m.Role == broker.RoleAssistant {
			sc = scopeAssistant
		}
		for j := range m.Content {
			ss.content(&m.Content[j], sc, fmt.Sprintf("messages[%d].content[%d]", i, j))
		}
	}
	for i := range p.Tools {
		t := &p.Tools[i]
		loc := fmt.Sprintf("tools[%d]", i)
		if t.Title != "" {
			t.Title = ss.process(t.Title, scopeTool, loc+".title")
		}
		if t.Description != "" {
			t.Description = ss.process(t.Description, scopeTool, loc+".description")
		}
		t.InputSchema = ss.json(t.InputSchema, scopeTool, loc+".inputSchema")
		t.OutputSchema = ss.json(t.OutputSchema, scopeTool, loc+".outputSchema")
	}
	err := ss.verdict(p)
	if err == nil && ss.pol.canary {
		ss.plantCanary(p)
	}
	s.log.Debug("input scanned", "server", server, "findings", len(ss.findings),
		"injection_score", ss.score(), "refused", err != nil)
	return ss, err
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// content sanitizes one content block in place.
func (ss *Session) content(c *broker.Content, sc scope, loc string) {
	switch c.Type {
	case broker.ContentText:
		c.Text = ss.process(c.Text, sc, loc)
		ss.spot = append(ss.spot, &c.Text)
	case broker.ContentToolUse:
		c.Input = ss.json(c.Input, scopeTool, loc+".input")
	case broker.ContentToolResult:
		for k := range c.Content {
			ss.content(&c.Content[k], scopeData, fmt.Sprintf("%s.content[%d]", loc, k))
		}
		c.StructuredContent = ss.json(c.StructuredContent, scopeData, loc+".structuredContent")
	case broker.ContentResource:
		c.Resource = ss.json(c.Resource, scopeData, loc+".resource")
	}
}

// json sanitizes the strings of a JSON document, keys included, keeping
// it valid JSON. A document that is not valid JSON is scanned as text.
func (ss *Session) json(doc []byte, sc scope, loc string) []byte {
	if len(doc) == 0 {
		return doc
	}
	out, err := mapJSONStrings(doc, func(s string) string { return ss.process(s, sc, loc) })
	if err != nil {
		return []byte(ss.process(string(doc), sc, loc))
	}
	return out
}

// verdict applies the policy to what the input scan found.
func (ss *Session) verdict(p *broker.CreateMessageParams) error {
	score := ss.score()
	hit := score >= ss.pol.threshold
	action := string(ActionAllow)
	if hit {
		action = string(ss.pol.injection)
	}
	for i := range ss.findings {
		if ss.findings[i].Type == TypeInjection {
			ss.findings[i].Action = action
		}
	}
	if hit {
		switch ss.pol.injection {
		case InjectionBlock:
			return broker.Errorf(broker.ReasonInjectionDetected,
				"prompt injection detected (score %.2f, threshold %.2f)", score, ss.pol.threshold)
		case InjectionSpotlight:
			ss.spotlight(p)
		}
	}
	if len(ss.blocked) > 0 {
		slices.Sort(ss.blocked)
		return broker.Errorf(broker.ReasonContentBlocked,
			"request holds content the policy blocks (%s)", strings.Join(slices.Compact(ss.blocked), ", "))
	}
	return nil
}

// ScanText sanitizes one text under server's policy, as Input does for a
// message, and returns what it found; for tools such as an "airlock scan"
// command. Blocked values are masked; injection findings are reported with
// the action the policy would take but the text is not spotlighted.
// Placeholders are numbered within this call.
func (s *Scanner) ScanText(server, text string) (sanitized string, findings []broker.Finding) {
	ss := s.newSession(server)
	out := ss.process(text, scopeText, "")
	hit := ss.score() >= ss.pol.threshold
	for i := range ss.findings {
		if ss.findings[i].Type == TypeInjection {
			ss.findings[i].Action = string(ActionAllow)
			if hit {
				ss.findings[i].Action = string(ss.pol.injection)
			}
		}
	}
	return out, ss.findings
}
