package filters

import (
	"context"
	"math"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// TypeHarmful is the type of the harmful-content classifier's findings.
const TypeHarmful = "harmful"

// Harm categories, named as OpenAI's moderation categories are.
const (
	HarmSexual          = "sexual"
	HarmHate            = "hate"
	HarmViolence        = "violence"
	HarmHarassment      = "harassment"
	HarmSelfHarm        = "self-harm"
	HarmSexualMinors    = "sexual/minors"
	HarmHateThreatening = "hate/threatening"
	HarmViolenceGraphic = "violence/graphic"
)

// HarmCategories lists the categories in a fixed order.
var HarmCategories = []string{HarmSexual, HarmHate, HarmViolence, HarmHarassment, HarmSelfHarm,
	HarmSexualMinors, HarmHateThreatening, HarmViolenceGraphic}

// HarmAction is what the scanner does with model output that the
// harmful-content classifier flags.
type HarmAction string

// Harm actions. The zero value is off.
const (
	HarmOff   HarmAction = "off"
	HarmFlag  HarmAction = "flag"
	HarmBlock HarmAction = "block"
)

// HarmClassifier scores text for OpenAI's moderation categories with a
// weighted lexicon and a few patterns that combine cues (a sexual term
// near a word for a child; a protected group near a slur, a dehumanising
// predicate or a threat; an insult aimed at "you"). It is a fast, local
// first line, not a model: it reads words, not meaning, so it misses what
// is said politely and flags what is quoted or discussed (see
// BENCHMARKS.md for its precision and recall). It implements Moderator.
type HarmClassifier struct {
	// Action is the action of its findings, block or flag; block if empty.
	Action HarmAction
	// Threshold is the score from which a category is reported; 0.5 if 0.
	Threshold float64
	lex       *automaton
	terms     []harmTerm
}

var _ Moderator = (*HarmClassifier)(nil)

// harmTerm is one lexicon entry: its category cues and weight.
type harmTerm struct {
	word   string
	cue    harmCue
	weight float64
	prefix bool // matches as the start of a longer word
}

// harmCue is what a term says, alone or with others.
type harmCue uint8

const (
	cueSexual     harmCue = iota // sexual acts and body parts
	cueMinor                     // words for children
	cueGroup                     // protected groups
	cueSlur                      // slurs: hate on their own
	cueDehumanize                // predicates that deny people's humanity
	cueViolence                  // killing, hurting, weapons in use
	cueThreat                    // calls for violence against someone
	cueGore                      // graphic injury
	cueInsult                    // insults
	cueYou                       // second person: the target of an insult
	cueSelfHarm                  // self-harm and suicide
	cueProfanity                 // swearing, which raises harassment with an insult
	numCues
)

// NewHarmClassifier returns a classifier with the built-in lexicon.
func NewHarmClassifier(action HarmAction) *HarmClassifier {
	h := &HarmClassifier{Action: action, terms: harmLexicon()}
	words := make([]string, len(h.terms))
	for i, t := range h.terms {
		words[i] = t.word
	}
	h.lex = newAutomaton(words)
	return h
}

// Scores returns a score from 0 to 1 for each of HarmCategories.
func (h *HarmClassifier) Scores(text string) map[string]float64 {
	var cue [numCues]float64 // noisy-or of the weights of each cue
	var hits [numCues]int
	var near struct{ sexMinor, groupBad, groupThreat, youInsult bool }
	last := [numCues]int{}
	for i := range last {
		last[i] = -1 << 30
	}
	var buf [64]acHit
	for _, m := range h.lex.scan(text, buf[:0]) {
		t := &h.terms[m.pat]
		end := int(m.end)
		start := end - len(t.word)
		if start > 0 && isAlnum(text[start-1]) || !t.prefix && !wordEnds(text, end) ||
			strings.HasPrefix(t.word, "year") && !minorAge(text, start) {
			continue
		}
		cue[t.cue] = 1 - (1-cue[t.cue])*(1-t.weight)
		hits[t.cue]++
		last[t.cue] = start
		within := func(c harmCue, w int) bool { return abs(start-last[c]) <= w }
		switch t.cue {
		case cueSexual:
			near.sexMinor = near.sexMinor || within(cueMinor, 120)
		case cueMinor:
			near.sexMinor = near.sexMinor || within(cueSexual, 120)
		case cueGroup:
			near.groupBad = near.groupBad || within(cueSlur, 80) || within(cueDehumanize, 80) || within(cueInsult, 60) ||
				within(cueThreat, 100) || t.weight >= 0.5 && within(cueViolence, 80)
			near.groupThreat = near.groupThreat || within(cueThreat, 100) || within(cueViolence, 80)
		case cueDehumanize, cueSlur:
			near.groupBad = near.groupBad || within(cueGroup, 80)
		case cueThreat, cueViolence:
			near.groupThreat = near.groupThreat || within(cueGroup, 100) || within(cueSlur, 100)
			near.groupBad = near.groupBad || t.weight >= 0.5 && within(cueGroup, 80)
		case cueInsult:
			near.groupBad = near.groupBad || within(cueGroup, 60)
			near.youInsult = near.youInsult || within(cueYou, 40)
		case cueYou:
			near.youInsult = near.youInsult || within(cueInsult, 40)
		}
	}
	or := func(xs ...float64) float64 {
		p := 1.0
		for _, x := range xs {
			p *= 1 - x
		}
		return 1 - p
	}
	b := func(ok bool, w float64) float64 {
		if ok {
			return w
		}
		return 0
	}
	s := map[string]float64{}
	s[HarmSexual] = cue[cueSexual]
	s[HarmSexualMinors] = b(near.sexMinor, cue[cueSexual])
	hate := or(cue[cueSlur], b(near.groupBad, 0.6), 0.5*cue[cueDehumanize]*b(hits[cueGroup] > 0, 1))
	s[HarmHate] = hate
	s[HarmHateThreatening] = b(near.groupThreat && hate >= 0.4, or(cue[cueThreat], cue[cueViolence]))
	s[HarmViolence] = or(cue[cueViolence], cue[cueThreat], 0.6*cue[cueGore])
	s[HarmViolenceGraphic] = b(cue[cueGore] > 0, or(cue[cueGore], 0.3*cue[cueViolence])*math.Min(1, 0.5+0.25*float64(hits[cueGore])))
	s[HarmHarassment] = or(b(near.youInsult, 0.7), 0.5*cue[cueInsult]*b(hits[cueYou] > 0, 1), 0.3*cue[cueProfanity]*b(near.youInsult, 1),
		b(hits[cueYou] > 0 && hits[cueThreat] > 0, 0.6), 0.4*hate*b(hits[cueYou] > 0, 1))
	s[HarmSelfHarm] = cue[cueSelfHarm]
	return s
}

// minorAge reports whether "year old" at i follows an age under 18.
func minorAge(text string, i int) bool {
	for i > 0 && (text[i-1] == ' ' || text[i-1] == '-') {
		i--
	}
	e := i
	for i > 0 && isDigit(text[i-1]) && e-i < 2 {
		i--
	}
	if i == e || i > 0 && isAlnum(text[i-1]) {
		return false
	}
	n := 0
	for _, c := range text[i:e] {
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 18
}

func wordEnds(text string, e int) bool {
	if e >= len(text) || !isAlnum(text[e]) {
		return true
	}
	// Plurals and simple inflections: -s, -es, -ed, -ing, -er(s).
	for _, suf := range []string{"s", "es", "ed", "ing", "er", "ers", "d"} {
		if strings.HasPrefix(strings.ToLower(text[e:min(len(text), e+len(suf))]), suf) && (e+len(suf) >= len(text) || !isAlnum(text[e+len(suf)])) {
			return true
		}
	}
	return false
}

// Moderate implements Moderator: it reports the categories whose score
// reaches the threshold and leaves the text as it is.
func (h *HarmClassifier) Moderate(_ context.Context, _, text string) (string, []broker.Finding, error) {
	th := h.Threshold
	if th == 0 {
		th = 0.5
	}
	action := string(ActionBlock)
	if h.Action == HarmFlag {
		action = string(HarmFlag)
	}
	var fs []broker.Finding
	scores := h.Scores(text)
	for _, c := range HarmCategories {
		if sc := scores[c]; sc >= th {
			fs = append(fs, broker.Finding{Type: TypeHarmful, Rule: "harmful-" + strings.ReplaceAll(c, "/", "-"),
				Action: action, Confidence: math.Round(sc*100) / 100})
		}
	}
	return text, fs, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
