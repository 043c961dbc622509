package filters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Action is what happens to a secret or personal datum that a rule found.
type Action string

// Actions. The zero value means the default for the place it is used.
const (
	// ActionPlaceholder replaces the value by a placeholder such as
	// [EMAIL_1], the same for the same value throughout a request, and
	// puts the value back in the model's output. Input only.
	ActionPlaceholder Action = "placeholder"
	// ActionMask replaces the value by "****", keeping nothing of it.
	ActionMask Action = "mask"
	// ActionHash replaces the value by a keyed hash such as [EMAIL:3f2a9c1d],
	// so that equal values stay recognisable without being revealed.
	ActionHash Action = "hash"
	// ActionBlock refuses the request (content_blocked) or the output
	// (output_blocked).
	ActionBlock Action = "block"
	// ActionAllow lets the value through and reports it.
	ActionAllow Action = "allow"
	// ActionOff disables a rule: nothing is reported. Only in Policy.Rules.
	ActionOff Action = "off"
)

// InjectionAction is what happens to a request whose injection score
// reaches the threshold.
type InjectionAction string

// Injection actions.
const (
	// InjectionBlock refuses the request with injection_detected.
	InjectionBlock InjectionAction = "block"
	// InjectionFlag lets the request through and records the findings.
	InjectionFlag InjectionAction = "flag"
	// InjectionSpotlight marks untrusted message text so the model can tell
	// it from instructions: it is wrapped in delimiters, its spaces are
	// replaced by a marker, and the system prompt explains the marking.
	InjectionSpotlight InjectionAction = "spotlight"
)

// DefaultInjectionThreshold is the score at which the injection action
// applies when Policy.InjectionThreshold is 0: one unambiguous override
// ("ignore all previous instructions") or two weaker signals.
const DefaultInjectionThreshold = 1.0

// Policy is how the scanner treats one MCP server's traffic. Its zero value
// is the secure default: secrets and personal data become placeholders,
// injections are blocked, new secrets and personal data in the output are
// masked, and links that carry data out are removed. Field tags give the
// names for a YAML configuration.
type Policy struct {
	// Secrets is the input action for secrets: placeholder (default),
	// mask, hash, block or allow.
	Secrets Action `yaml:"secrets" json:"secrets,omitempty"`
	// PII is the input action for personal data: placeholder (default),
	// mask, hash, block or allow.
	PII Action `yaml:"pii" json:"pii,omitempty"`
	// Rules overrides the action of single rules by ID, e.g. "ipv4: allow"
	// or "twilio-account-sid: off". Off and allow apply to the output too.
	// Injection rules accept only off.
	Rules map[string]Action `yaml:"rules" json:"rules,omitempty"`
	// Injection is block (default), flag or spotlight.
	Injection InjectionAction `yaml:"injection" json:"injection,omitempty"`
	// InjectionThreshold is the score at which Injection applies; 0 means
	// DefaultInjectionThreshold.
	InjectionThreshold float64 `yaml:"injection_threshold" json:"injectionThreshold,omitempty"`
	// OutputSecrets and OutputPII are the actions for secrets and personal
	// data in the model's output that did not come from the request: mask
	// (default), hash, block or allow.
	OutputSecrets Action `yaml:"output_secrets" json:"outputSecrets,omitempty"`
	OutputPII     Action `yaml:"output_pii" json:"outputPII,omitempty"`
	// LinkHosts are the hosts that links and images in the output may
	// carry data to: "example.com" or "*.example.com" (which also matches
	// example.com). Links with data to any other host are removed.
	LinkHosts []string `yaml:"link_hosts" json:"linkHosts,omitempty"`
	// Harmful runs the built-in harmful-content classifier (HarmClassifier)
	// on the model's output: block refuses output it flags with
	// output_blocked, flag records findings only, off (the default) does
	// not run it.
	Harmful HarmAction `yaml:"harmful" json:"harmful,omitempty"`
	// Canary, if true, appends to the system prompt a random marker that
	// the model is told never to repeat, and refuses with output_blocked an
	// output that holds the marker or a run of eight words of the system
	// prompt: a sign that the model was talked into leaking its
	// instructions.
	Canary bool `yaml:"canary" json:"canary,omitempty"`
}

// Moderator checks model output after placeholders are restored and
// secrets, personal data and exfiltrating links are removed. It is the
// extension point for output checks; HarmClassifier is one, which
// Policy.Harmful turns on without listing it here. Moderate may rewrite
// text; a finding with Action "block" refuses the output with
// output_blocked. An error fails the request as internal.
type Moderator interface {
	Moderate(ctx context.Context, server, text string) (string, []broker.Finding, error)
}

// Options configure a Scanner. The zero value works: default policy for
// every server, built-in rules, a random fingerprint key.
type Options struct {
	// Policies holds per-server policies by server ID; others get Default.
	Policies map[string]Policy
	Default  Policy
	// FingerprintKey keys the HMAC-SHA256 of findings' fingerprints and of
	// hash actions. Set it (32 random bytes) for fingerprints that stay
	// comparable across restarts; if empty, a random key is used.
	FingerprintKey []byte
	// Rules replaces the built-in rules when not nil; extend them with
	// append(filters.DefaultRules(), myRule).
	Rules []Rule
	// Moderators run, in order, on each text of the output.
	Moderators []Moderator
	// Rand is the source of spotlight delimiter nonces; crypto/rand if nil.
	Rand io.Reader
	// Logger receives debug records about scans (never values); discarded
	// if nil.
	Logger *slog.Logger
}

// DefaultRules returns the built-in rules: secrets, personal data and
// injection signals.
func DefaultRules() []Rule {
	return slices.Concat(SecretRules(), PIIRules(), InjectionRules())
}

// Validate reports everything wrong with o's policies, joined.
func (o *Options) Validate() error {
	rules := o.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	types := map[string]string{}
	for _, r := range rules {
		types[r.ID] = r.Type
	}
	var errs []error
	check := func(name string, p *Policy) {
		in := func(field string, a Action, allowed ...Action) {
			if a != "" && !slices.Contains(allowed, a) {
				errs = append(errs, fmt.Errorf("%s: %s: unknown action %q (want %s)", name, field, a, joinActions(allowed)))
			}
		}
		in("secrets", p.Secrets, ActionPlaceholder, ActionMask, ActionHash, ActionBlock, ActionAllow)
		in("pii", p.PII, ActionPlaceholder, ActionMask, ActionHash, ActionBlock, ActionAllow)
		in("output_secrets", p.OutputSecrets, ActionMask, ActionHash, ActionBlock, ActionAllow)
		in("output_pii", p.OutputPII, ActionMask, ActionHash, ActionBlock, ActionAllow)
		for id, a := range p.Rules {
			switch typ, ok := types[id]; {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: rules: unknown rule %q", name, id))
			case typ == TypeInjection:
				in("rules."+id, a, ActionOff)
			default:
				in("rules."+id, a, ActionPlaceholder, ActionMask, ActionHash, ActionBlock, ActionAllow, ActionOff)
			}
		}
		switch p.Injection {
		case "", InjectionBlock, InjectionFlag, InjectionSpotlight:
		default:
			errs = append(errs, fmt.Errorf("%s: injection: unknown action %q (want block, flag or spotlight)", name, p.Injection))
		}
		switch p.Harmful {
		case "", HarmOff, HarmFlag, HarmBlock:
		default:
			errs = append(errs, fmt.Errorf("%s: harmful: unknown action %q (want block, flag or off)", name, p.Harmful))
		}
		if p.InjectionThreshold < 0 {
			errs = append(errs, fmt.Errorf("%s: injection_threshold must not be negative", name))
		}
		for _, h := range p.LinkHosts {
			rest, wild := strings.CutPrefix(h, "*.")
			if rest == "" || strings.ContainsAny(rest, "/:?#* ") || !wild && strings.HasPrefix(h, "*") {
				errs = append(errs, fmt.Errorf("%s: link_hosts: %q is not a host name or *.domain", name, h))
			}
		}
	}
	check("default policy", &o.Default)
	for _, id := range sortedKeys(o.Policies) {
		p := o.Policies[id]
		check("server "+id, &p)
	}
	return errors.Join(errs...)
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// scope is where a text sits, which decides the rules that run on it.
type scope int

const (
	scopeSystem    scope = iota // the system prompt
	scopeUser                   // user messages
	scopeData                   // tool results and resources: content to read, not to obey
	scopeAssistant              // assistant messages, written by the server
	scopeTool                   // tool descriptions, schemas, JSON values
	scopeDecoded                // text decoded from base64 or tag characters: injection only
	scopeOutput                 // model output: secrets and PII only
	scopeText                   // ScanText: everything
	numScopes
)

// policy is a Policy compiled against the engine's rules.
type policy struct {
	input     []Action // per rule
	output    []Action // per rule
	on        [numScopes][]bool
	injection InjectionAction
	threshold float64
	linkHosts []string
	harmful   HarmAction // off, flag or block
	canary    bool
}

func compilePolicy(p Policy, rules []Rule) *policy {
	c := &policy{
		input:     make([]Action, len(rules)),
		output:    make([]Action, len(rules)),
		injection: p.Injection,
		threshold: p.InjectionThreshold,
		harmful:   p.Harmful,
		canary:    p.Canary,
	}
	switch c.harmful {
	case "", HarmOff:
		c.harmful = HarmOff
	case HarmFlag:
	default:
		c.harmful = HarmBlock // block, and what a typo gets
	}
	if c.injection != InjectionFlag && c.injection != InjectionSpotlight {
		c.injection = InjectionBlock // the default, and what a typo gets
	}
	if c.threshold <= 0 {
		c.threshold = DefaultInjectionThreshold
	}
	for _, h := range p.LinkHosts {
		c.linkHosts = append(c.linkHosts, strings.ToLower(h))
	}
	for s := range c.on {
		c.on[s] = make([]bool, len(rules))
	}
	for i, r := range rules {
		var in, out Action
		switch r.Type {
		case TypeSecret:
			in, out = inputAction(p.Secrets), outputAction(p.OutputSecrets)
		case TypePII:
			in, out = inputAction(p.PII), outputAction(p.OutputPII)
		default:
			in, out = ActionAllow, ActionOff
		}
		if a, ok := p.Rules[r.ID]; ok {
			in = inputAction(a)
			if a == ActionOff || a == ActionAllow {
				out = a
			}
		}
		c.input[i], c.output[i] = in, out
		for s := range numScopes {
			c.on[s][i] = in != ActionOff && ruleInScope(r, s) && (s != scopeOutput || out != ActionOff)
		}
	}
	return c
}

func ruleInScope(r Rule, s scope) bool {
	if r.Type != TypeInjection {
		return s != scopeDecoded
	}
	if r.ID == ruleEmbeddedTask {
		return s == scopeData // a request is what users write
	}
	switch s {
	case scopeOutput:
		return false
	case scopeSystem:
		return r.ID != ruleRoleLine && r.ID != rulePromptLeak
	case scopeAssistant, scopeTool:
		return r.ID != ruleRoleLine
	}
	return true
}

// inputAction resolves the default and fails closed on unknown values.
func inputAction(a Action) Action {
	switch a {
	case "":
		return ActionPlaceholder
	case ActionPlaceholder, ActionMask, ActionHash, ActionBlock, ActionAllow, ActionOff:
		return a
	}
	return ActionBlock
}

func outputAction(a Action) Action {
	switch a {
	case "", ActionPlaceholder:
		return ActionMask
	case ActionMask, ActionHash, ActionBlock, ActionAllow, ActionOff:
		return a
	}
	return ActionBlock
}

// allowsHost reports whether links may carry data to host.
func (p *policy) allowsHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.linkHosts {
		if d, ok := strings.CutPrefix(h, "*."); ok {
			if host == d || strings.HasSuffix(host, "."+d) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}
