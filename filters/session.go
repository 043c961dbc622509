package filters

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Stages of a finding.
const (
	stageInput  = "input"
	stageOutput = "output"
)

// maxFindings bounds what one request records, so that a hostile input
// cannot bloat the audit log; the scan goes on regardless.
const maxFindings = 1000

// masked replaces a value under ActionMask and ActionBlock.
const masked = "****"

// Session is the scanner's state for one request: its placeholder vault,
// the fingerprints of the values its input held, its injection score and
// its findings. It implements broker.Session. A Session is used by one
// request at a time and is not safe for concurrent use.
type Session struct {
	s      *Scanner
	server string
	pol    *policy

	findings []broker.Finding
	recorded map[findingKey]bool
	inputFPs map[string]bool // fingerprints of every value found in the input

	vault     map[phKey]string // placeholder -> value
	byValue   map[string]int   // label NUL value -> placeholder number
	next      map[string]int   // label -> last number given
	reserved  map[phKey]bool   // placeholder-like tokens already in the input
	ambiguous map[phKey]bool   // given out, then also found in the input

	mac       hash.Hash          // keyed HMAC-SHA256, reset for each use
	fps       map[string]string  // fingerprints computed, by value
	injection map[string]float64 // injection rule -> highest weight
	blocked   []string           // rules whose action blocked the input
	spot      []*string          // texts to mark when spotlighting
	canary    *canary            // set when the policy plants one
}

// phKey names a placeholder: [EMAIL_3] is {"EMAIL", 3}.
type phKey struct {
	label string
	n     int
}

func (k phKey) String() string { return "[" + k.label + "_" + strconv.Itoa(k.n) + "]" }

type findingKey struct {
	stage, rule, loc, fp string
}

func (s *Scanner) newSession(server string) *Session {
	pol, ok := s.policies[server]
	if !ok {
		pol = s.def
	}
	return &Session{s: s, server: server, pol: pol}
}

// Findings implements broker.Session.
func (ss *Session) Findings() []broker.Finding {
	out := make([]broker.Finding, len(ss.findings))
	copy(out, ss.findings)
	return out
}

// add records f once per stage, rule, location and value.
func (ss *Session) add(f broker.Finding) {
	k := findingKey{f.Stage, f.Rule, f.Location, f.Fingerprint}
	if ss.recorded[k] || len(ss.findings) >= maxFindings {
		return
	}
	if ss.recorded == nil {
		ss.recorded = map[findingKey]bool{}
	}
	ss.recorded[k] = true
	ss.findings = append(ss.findings, f)
}

// fingerprint is the hex of the first 16 bytes of the keyed HMAC-SHA256 of v.
func (ss *Session) fingerprint(v string) string {
	if fp, ok := ss.fps[v]; ok {
		return fp // a value repeated in a request
	}
	if ss.mac == nil {
		ss.mac = hmac.New(sha256.New, ss.s.key)
	} else {
		ss.mac.Reset()
	}
	io.WriteString(ss.mac, v)
	var sum [sha256.Size]byte
	fp := hex.EncodeToString(ss.mac.Sum(sum[:0])[:16])
	if ss.fps == nil {
		ss.fps = map[string]string{}
	}
	if len(ss.fps) < maxFindings {
		ss.fps[v] = fp
	}
	return fp
}

// process scans one input text and returns the text to send on: the text
// itself when nothing was replaced, else its normalised form with the
// replacements. Spans are taken on the normalised text, so they always
// match what is sent.
func (ss *Session) process(text string, sc scope, loc string) string {
	e := ss.s.eng
	norm, hid, _ := normalize(text)
	st := e.get()
	defer e.put(st)
	e.scan(norm, ss.pol.on[sc], true, st)
	ss.reserve(norm, st.labels)
	redact, inject := e.resolve(st)
	for _, m := range inject {
		id, w := e.rules[m.rule].ID, m.Confidence
		if sc == scopeData {
			w = dataWeight(id, w)
		}
		ss.addInjection(id, w, loc, norm[m.Start:m.End])
	}
	if hid.any() {
		ss.hiddenText(hid, loc)
	}
	budget := maxDecoded
	ss.encoded(norm, loc, 0, &budget)

	out, changed := ss.redact(norm, redact, loc)
	if !changed && !hid.any() {
		return text
	}
	return out
}

// redact records a finding for each match and applies the input action.
func (ss *Session) redact(text string, ms []match, loc string) (string, bool) {
	if len(ms) == 0 {
		return text, false
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		r := &ss.s.eng.rules[m.rule]
		v := text[m.Start:m.End]
		act := ss.pol.input[m.rule]
		fp := ss.fingerprint(v)
		if ss.inputFPs == nil {
			ss.inputFPs = map[string]bool{}
		}
		ss.inputFPs[fp] = true
		ss.add(broker.Finding{Stage: stageInput, Type: r.Type, Rule: r.ID, Action: string(act),
			Confidence: m.Confidence, Location: loc, Fingerprint: fp})
		var repl string
		switch act {
		case ActionAllow:
			continue
		case ActionPlaceholder:
			repl = ss.placeholder(r.Label, v)
		case ActionHash:
			repl = "[" + r.Label + ":" + fp[:8] + "]"
		case ActionBlock:
			ss.blocked = append(ss.blocked, r.ID)
			repl = masked
		default:
			repl = masked
		}
		if b.Len() == 0 {
			b.Grow(len(text) + 16*len(ms))
		}
		b.WriteString(text[last:m.Start])
		b.WriteString(repl)
		last = m.End
	}
	if last == 0 {
		return text, false
	}
	b.WriteString(text[last:])
	return b.String(), true
}

// reserve notes the placeholder-like tokens of an input text, so that no
// value is given their names. A token that names a placeholder already
// given out makes that placeholder ambiguous: it is then never restored.
func (ss *Session) reserve(text string, hits []labelHit) {
	for _, h := range hits {
		k, _, ok := parseToken(text, h.Start, h.End, ss.s.eng.labels[h.label])
		if !ok {
			continue
		}
		if _, given := ss.vault[k]; given {
			if ss.ambiguous == nil {
				ss.ambiguous = map[phKey]bool{}
			}
			ss.ambiguous[k] = true
			continue
		}
		if ss.reserved == nil {
			ss.reserved = map[phKey]bool{}
		}
		ss.reserved[k] = true
	}
}

// placeholder returns the placeholder of value v, the same for the same
// value throughout the request.
func (ss *Session) placeholder(label, v string) string {
	vk := label + "\x00" + v
	if n, ok := ss.byValue[vk]; ok {
		return phKey{label, n}.String()
	}
	if ss.vault == nil {
		ss.vault, ss.byValue, ss.next = map[phKey]string{}, map[string]int{}, map[string]int{}
	}
	n := ss.next[label] + 1
	for ss.reserved[phKey{label, n}] {
		n++
	}
	ss.next[label] = n
	k := phKey{label, n}
	ss.vault[k] = v
	ss.byValue[vk] = n
	return k.String()
}
