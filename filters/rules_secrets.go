package filters

// secretDef is a built-in secret rule with examples of what it must find
// and what it must not, which the tests check and the benchmarks plant.
// Examples are templates, so that the source holds nothing a secret
// scanner would flag: "{a32}" stands for 32 random characters of class a
// (see expandTemplate in the tests for the classes) and «» marks the
// secret the rule must find, exactly.
type secretDef struct {
	Rule
	hits, misses []string
}

func def(r Rule) secretDef { return secretDef{Rule: r} }

// hit adds templates of texts in which the rule finds the marked secret.
func (d secretDef) hit(ts ...string) secretDef { d.hits = append(d.hits, ts...); return d }

// miss adds templates of texts in which the rule finds nothing.
func (d secretDef) miss(ts ...string) secretDef { d.misses = append(d.misses, ts...); return d }

// secretFamilies are the built-in secret rules by family, most specific
// first: when two rules find the same span, the first one is reported.
func secretFamilies() []struct {
	name string
	defs []secretDef
} {
	return []struct {
		name string
		defs []secretDef
	}{
		{"cloud", cloudSecrets()},
		{"vcs and developer tools", devSecrets()},
		{"chat, payment and SaaS", saasSecrets()},
		{"LLM providers", aiSecrets()},
		{"generic", genericSecrets()},
	}
}

func secretDefs() []secretDef {
	var defs []secretDef
	for _, f := range secretFamilies() {
		defs = append(defs, f.defs...)
	}
	return defs
}

// SecretRules returns the built-in secret rules.
func SecretRules() []Rule {
	defs := secretDefs()
	rules := make([]Rule, len(defs))
	for i, d := range defs {
		rules[i] = d.Rule
	}
	return rules
}

// prefixed is a rule for a token made of one of prefixes and a body of n
// bytes of set, at least h bits of entropy per byte if h > 0.
func prefixed(id string, set *[256]bool, n int, h float64, prefixes ...string) Rule {
	var valid func(string) bool
	if h > 0 {
		valid = minEntropy(h)
	}
	return tokenRule(id, prefixes, set, n, n, 0.95, valid)
}

// prefixedRange is prefixed with a body of min to max bytes.
func prefixedRange(id string, set *[256]bool, lo, hi int, h float64, prefixes ...string) Rule {
	var valid func(string) bool
	if h > 0 {
		valid = minEntropy(h)
	}
	return tokenRule(id, prefixes, set, lo, hi, 0.95, valid)
}
