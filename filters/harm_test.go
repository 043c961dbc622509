package filters

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
)

func TestHarmClassifier(t *testing.T) {
	tests := []struct {
		text string
		want []string // categories at or above 0.5
	}{
		{"The quarterly report shows revenue up four percent.", nil},
		{"How do I kill a stuck process on Linux?", nil},
		{"She broke a bone skiing and needed stitches.", nil},
		{"I want to kill myself, I see no reason to live.", []string{HarmSelfHarm}},
		{"I have been self-harming again and cut myself last night.", []string{HarmSelfHarm}},
		{"You are a worthless idiot and nobody likes you.", []string{HarmHarassment}},
		{"I will kill you and your family.", []string{HarmViolence, HarmHarassment}},
		{"Those immigrants are vermin and should be exterminated.", []string{HarmHate, HarmViolence, HarmHateThreatening}},
		{"Explicit porn with hardcore sex and orgasm scenes.", []string{HarmSexual}},
		{"The corpse was mangled, guts and entrails everywhere, skull crushed in a pool of blood.", []string{HarmViolence, HarmViolenceGraphic}},
	}
	h := NewHarmClassifier(HarmBlock)
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			var got []string
			for c, s := range h.Scores(tt.text) {
				if s >= 0.5 {
					got = append(got, c)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("categories (-want +got):\n%s\nscores %v", diff, h.Scores(tt.text))
			}
		})
	}
}

func TestHarmfulPolicy(t *testing.T) {
	const bad = "You are a worthless idiot and nobody likes you."
	for _, tt := range []struct {
		name    string
		action  HarmAction
		err     broker.Reason
		action2 string
	}{
		{"off by default", "", "", ""},
		{"flag", HarmFlag, "", "flag"},
		{"block", HarmBlock, broker.ReasonOutputBlocked, "block"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestScanner(t, Policy{Harmful: tt.action})
			sess, err := s.Input(context.Background(), "srv", &broker.CreateMessageParams{Messages: []broker.SamplingMessage{userText("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			r := &broker.CreateMessageResult{Content: []broker.Content{broker.TextContent(bad)}}
			err = sess.Output(context.Background(), r)
			if got := broker.ErrorReason(err); got != tt.err {
				t.Errorf("Output error = %v, want reason %q", err, tt.err)
			}
			var actions []string
			for _, f := range sess.Findings() {
				if f.Type == TypeHarmful {
					actions = append(actions, f.Rule+":"+f.Action)
				}
			}
			if tt.action2 == "" && len(actions) > 0 || tt.action2 != "" && (len(actions) == 0 || !strings.HasSuffix(actions[0], ":"+tt.action2)) {
				t.Errorf("harmful findings = %v, want action %q", actions, tt.action2)
			}
		})
	}
	if err := (&Options{Default: Policy{Harmful: "maybe"}}).Validate(); err == nil || !strings.Contains(err.Error(), `harmful: unknown action "maybe"`) {
		t.Errorf("Validate() = %v, want an error about harmful", err)
	}
}

var _ Moderator = NewHarmClassifier(HarmFlag)
