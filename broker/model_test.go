package broker

import "testing"

func ptr(f float64) *float64 { return &f }

func TestChooseModel(t *testing.T) {
	allowed := []Model{
		{Name: "gpt-4o-mini", Upstream: "gpt-4o-mini", InputPrice: 150_000, OutputPrice: 600_000, Speed: 0.9, Intelligence: 0.5},
		{Name: "claude-3-5-sonnet", Upstream: "anthropic/claude-3-5-sonnet", InputPrice: 3_000_000, OutputPrice: 15_000_000, Speed: 0.5, Intelligence: 0.9},
		{Name: "gpt-4o", Upstream: "gpt-4o", InputPrice: 2_500_000, OutputPrice: 10_000_000, Speed: 0.6, Intelligence: 0.8},
	}
	tests := []struct {
		name    string
		prefs   *ModelPreferences
		want    string
		wantHow string
	}{
		{"no preferences", nil, "gpt-4o", "default"},
		{"first hint decides", &ModelPreferences{Hints: []ModelHint{{Name: "claude"}, {Name: "gpt"}}}, "claude-3-5-sonnet", "hint"},
		{"hint is case-insensitive substring", &ModelPreferences{Hints: []ModelHint{{Name: "SONNET"}}}, "claude-3-5-sonnet", "hint"},
		{"unmatched hint skipped", &ModelPreferences{Hints: []ModelHint{{Name: "gemini"}, {Name: "4o-mini"}}}, "gpt-4o-mini", "hint"},
		{"priorities break hint ties", &ModelPreferences{Hints: []ModelHint{{Name: "gpt"}}, IntelligencePriority: ptr(1)}, "gpt-4o", "hint"},
		{"cost priority", &ModelPreferences{CostPriority: ptr(1)}, "gpt-4o-mini", "priorities"},
		{"intelligence priority", &ModelPreferences{IntelligencePriority: ptr(1), CostPriority: ptr(0)}, "claude-3-5-sonnet", "priorities"},
		{"zero priorities are values", &ModelPreferences{CostPriority: ptr(0), SpeedPriority: ptr(0), IntelligencePriority: ptr(0)}, "gpt-4o-mini", "priorities"},
		{"no hint match, no priorities", &ModelPreferences{Hints: []ModelHint{{Name: "llama"}}}, "gpt-4o", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, how, _ := chooseModel(tc.prefs, allowed, 2)
			if got.Name != tc.want || how != tc.wantHow {
				t.Errorf("chose %s by %s, want %s by %s", got.Name, how, tc.want, tc.wantHow)
			}
		})
	}
}

func TestModelCost(t *testing.T) {
	m := Model{InputPrice: 150_000, CachedInputPrice: 75_000, OutputPrice: 600_000}
	tests := []struct {
		prompt, cached, completion, want int64
	}{
		{0, 0, 0, 0},
		{1_000_000, 0, 0, 150_000},
		{1, 0, 0, 1}, // rounds up: never undercharge
		{1000, 0, 500, 150 + 300},
		{1000, 1000, 0, 75},
		{1000, 5000, 0, 75}, // cached cannot exceed prompt
		{1 << 62, 0, 1 << 62, Model{}.Cost(0, 0, 0) + (int64(1<<63-1)/2+999_999)/1_000_000*2},
	}
	for _, tc := range tests {
		if got := m.Cost(tc.prompt, tc.cached, tc.completion); got != tc.want {
			t.Errorf("Cost(%d,%d,%d) = %d, want %d", tc.prompt, tc.cached, tc.completion, got, tc.want)
		}
	}
}
