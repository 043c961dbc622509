package filters

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Output implements broker.Session. For each text block of r it restores
// this request's placeholders, masks secrets and personal data that did not
// come from the request, removes links and images that would carry data to
// hosts outside the policy's allowlist, then runs the Options' Moderators.
// In tool_use inputs it restores and masks, JSON-escaping what it writes.
// It returns a *broker.Error with ReasonOutputBlocked when a finding's
// action is block.
func (ss *Session) Output(ctx context.Context, r *broker.CreateMessageResult) error {
	var blocked []string
	for i := range r.Content {
		c := &r.Content[i]
		loc := fmt.Sprintf("content[%d]", i)
		switch c.Type {
		case broker.ContentText:
			blocked = ss.checkCanary(c.Text, loc, blocked)
			var spans []Span
			c.Text, spans = ss.restore(c.Text, nil)
			c.Text, blocked = ss.moderate(c.Text, spans, loc, blocked)
			c.Text = ss.removeLinks(c.Text, loc)
			blocked = ss.checkHarm(ctx, c.Text, loc, blocked)
			for _, m := range ss.s.moderators {
				text, fs, err := m.Moderate(ctx, ss.server, c.Text)
				if err != nil {
					return fmt.Errorf("moderate output of %s: %w", ss.server, err)
				}
				c.Text = text
				for _, f := range fs {
					f.Stage, f.Location = stageOutput, loc
					ss.add(f)
					if f.Action == string(ActionBlock) {
						blocked = append(blocked, f.Rule)
					}
				}
			}
		case broker.ContentToolUse:
			if len(c.Input) == 0 {
				continue
			}
			blocked = ss.checkCanary(string(c.Input), loc+".input", blocked)
			out, err := mapJSONStrings(c.Input, func(s string) string {
				s, spans := ss.restore(s, nil)
				s, blocked = ss.moderate(s, spans, loc+".input", blocked)
				return s
			})
			if err != nil {
				// Not JSON: the provider adapter should have refused it.
				// Moderate it as text rather than pass it unseen.
				var t string
				t, blocked = ss.moderate(string(c.Input), nil, loc+".input", blocked)
				out = []byte(t)
			}
			c.Input = out
		}
	}
	if len(blocked) > 0 {
		slices.Sort(blocked)
		return broker.Errorf(broker.ReasonOutputBlocked,
			"model output holds content the policy blocks (%s)", strings.Join(slices.Compact(blocked), ", "))
	}
	return nil
}

// moderate finds secrets and personal data in output text and applies the
// output action to those that are new: not restored from a placeholder
// (restored lists where values were put back) and not present in the input.
// It appends the rules that block to blocked.
func (ss *Session) moderate(text string, restored []Span, loc string, blocked []string) (string, []string) {
	e := ss.s.eng
	st := e.get()
	defer e.put(st)
	e.scan(text, ss.pol.on[scopeOutput], false, st)
	ms, _ := e.resolve(st)
	var b strings.Builder
	last := 0
	for _, m := range ms {
		if overlaps(restored, m.Start, m.End) {
			continue
		}
		v := text[m.Start:m.End]
		fp := ss.fingerprint(v)
		if ss.inputFPs[fp] {
			continue
		}
		r := &e.rules[m.rule]
		act := ss.pol.output[m.rule]
		ss.add(broker.Finding{Stage: stageOutput, Type: r.Type, Rule: r.ID, Action: string(act),
			Confidence: m.Confidence, Location: loc, Fingerprint: fp})
		var repl string
		switch act {
		case ActionAllow:
			continue
		case ActionHash:
			repl = "[" + r.Label + ":" + fp[:8] + "]"
		case ActionBlock:
			blocked = append(blocked, r.ID)
			repl = masked
		default:
			repl = masked
		}
		b.WriteString(text[last:m.Start])
		b.WriteString(repl)
		last = m.End
	}
	if last == 0 {
		return text, blocked
	}
	b.WriteString(text[last:])
	return b.String(), blocked
}

// checkCanary refuses output that leaks the canary or the system prompt.
func (ss *Session) checkCanary(text, loc string, blocked []string) []string {
	rule, ok := ss.canary.leak(text)
	if !ok {
		return blocked
	}
	ss.add(broker.Finding{Stage: stageOutput, Type: TypeCanary, Rule: rule, Action: string(ActionBlock),
		Confidence: 1, Location: loc})
	return append(blocked, rule)
}

// checkHarm runs the harmful-content classifier if the policy asks for it.
func (ss *Session) checkHarm(ctx context.Context, text, loc string, blocked []string) []string {
	if ss.pol.harmful == HarmOff || ss.s.harm == nil {
		return blocked
	}
	_, fs, _ := ss.s.harm.Moderate(ctx, ss.server, text)
	for _, f := range fs {
		f.Stage, f.Location, f.Action = stageOutput, loc, string(ss.pol.harmful)
		ss.add(f)
		if ss.pol.harmful == HarmBlock {
			blocked = append(blocked, f.Rule)
		}
	}
	return blocked
}

func overlaps(spans []Span, s, e int) bool {
	for _, sp := range spans {
		if sp.Start < e && s < sp.End {
			return true
		}
	}
	return false
}
