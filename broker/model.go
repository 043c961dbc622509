package broker

import (
	"math"
	"strings"
)

// Model is an LLM the broker may route to, as the operator configured it.
// Prices are integer micro-dollars per million tokens, so that no float ever
// enters a budget.
type Model struct {
	Name     string // what servers see and hints match
	Provider string // name of the configured provider
	Upstream string // model id sent to the provider

	InputPrice       int64 // µUSD per 1M prompt tokens
	CachedInputPrice int64 // µUSD per 1M cached prompt tokens
	OutputPrice      int64 // µUSD per 1M completion tokens

	// Speed and Intelligence are the operator's scores in [0,1], used with
	// the server's priorities.
	Speed        float64
	Intelligence float64

	// Encoding names the tokenizer used to count prompts (e.g. o200k_base).
	Encoding string
	// MaxOutputTokens, when > 0, caps maxTokens for this model.
	MaxOutputTokens int64
}

// Cost returns the price of the given usage in micro-dollars, rounded up.
func (m Model) Cost(prompt, cached, completion int64) int64 {
	if cached > prompt {
		cached = prompt
	}
	cachedPrice := m.CachedInputPrice
	if cachedPrice == 0 {
		cachedPrice = m.InputPrice
	}
	return ceilDiv(mulSat(prompt-cached, m.InputPrice), 1e6) +
		ceilDiv(mulSat(cached, cachedPrice), 1e6) +
		ceilDiv(mulSat(completion, m.OutputPrice), 1e6)
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// mulSat multiplies non-negative a and b, saturating at MaxInt64/2 so sums of
// a few products cannot overflow.
func mulSat(a, b int64) int64 {
	const limit = math.MaxInt64 / 2
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > limit/b {
		return limit
	}
	return a * b
}

// chooseModel picks a model for prefs among allowed, which is in the
// operator's order of preference; def is used when nothing else decides.
//
// As the MCP specification says, hints are substrings of model names, tried
// in order; the first hint that matches any allowed model decides, and
// priorities break ties among its matches. Without a matching hint, the
// priorities score every allowed model; without priorities, def wins.
// how says which rule decided: "hint", "priorities" or "default".
func chooseModel(prefs *ModelPreferences, allowed []Model, def int) (m Model, how string, hintMatched bool) {
	if prefs != nil {
		for _, h := range prefs.Hints {
			name := strings.ToLower(strings.TrimSpace(h.Name))
			if name == "" {
				continue
			}
			var matches []Model
			for _, m := range allowed {
				if strings.Contains(strings.ToLower(m.Name), name) || strings.Contains(strings.ToLower(m.Upstream), name) {
					matches = append(matches, m)
				}
			}
			if len(matches) > 0 {
				return best(prefs, matches, allowed), "hint", true
			}
		}
		if prefs.CostPriority != nil || prefs.SpeedPriority != nil || prefs.IntelligencePriority != nil {
			return best(prefs, allowed, allowed), "priorities", false
		}
	}
	return allowed[def], "default", false
}

// best scores candidates by prefs; cost is normalised over all allowed models
// so that the cheapest scores 1 and the dearest 0. Ties keep config order.
func best(prefs *ModelPreferences, candidates, all []Model) Model {
	if len(candidates) == 1 || prefs == nil {
		return candidates[0]
	}
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, m := range all {
		p := m.InputPrice + m.OutputPrice
		lo, hi = min(lo, p), max(hi, p)
	}
	pri := func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return *p
	}
	cw, sw, iw := pri(prefs.CostPriority), pri(prefs.SpeedPriority), pri(prefs.IntelligencePriority)
	bestScore, bestIdx := math.Inf(-1), 0
	for i, m := range candidates {
		cost := 1.0
		if hi > lo {
			cost = 1 - float64(m.InputPrice+m.OutputPrice-lo)/float64(hi-lo)
		}
		s := cw*cost + sw*m.Speed + iw*m.Intelligence
		if s > bestScore {
			bestScore, bestIdx = s, i
		}
	}
	return candidates[bestIdx]
}
