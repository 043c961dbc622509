package filters

import (
	"path/filepath"
	"strconv"
	"testing"
)

// piiEntity maps the personal-data rules to the entity types of Presidio's
// synthetic data set.
var piiEntity = map[string]string{
	"payment-card": "CREDIT_CARD",
	"phone":        "PHONE_NUMBER",
	"email":        "EMAIL_ADDRESS",
	"iban":         "IBAN_CODE",
	"us-ssn":       "US_SSN",
	"ipv4":         "IP_ADDRESS",
	"ipv6":         "IP_ADDRESS",
}

var piiTypes = []string{"CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}

// TestEvalPII measures the personal-data rules on Presidio's synthetic
// sentences, per entity type, matching by span overlap. Sentences are split
// in two fixed halves (even and odd index): rules were tuned looking at the
// first only, and both are reported.
func TestEvalPII(t *testing.T) {
	dir := evalDir(t)
	var data []struct {
		FullText string `json:"full_text"`
		Spans    []struct {
			Type  string `json:"entity_type"`
			Start int    `json:"start_position"`
			End   int    `json:"end_position"`
		} `json:"spans"`
	}
	readJSON(t, filepath.Join(dir, "pii", "presidio_synth_dataset_v2.json"), &data)
	s := New(Options{FingerprintKey: testKey})
	per := map[string]*[3]counts{} // type -> all, tuning half, held-out half
	for _, typ := range piiTypes {
		per[typ] = &[3]counts{}
	}
	var errs []string
	for i, d := range data {
		st := s.eng.get()
		s.eng.scan(d.FullText, s.def.on[scopeText], false, st)
		redact, _ := s.eng.resolve(st)
		pred := map[string][]Span{}
		for _, m := range redact {
			if typ, ok := piiEntity[s.eng.rules[m.rule].ID]; ok {
				pred[typ] = append(pred[typ], Span{m.Start, m.End})
			}
		}
		s.eng.put(st)
		// Presidio's offsets count characters; the scanner's count bytes.
		var byteAt []int
		for i := range d.FullText {
			byteAt = append(byteAt, i)
		}
		byteAt = append(byteAt, len(d.FullText))
		gold := map[string][]Span{}
		for _, sp := range d.Spans {
			gold[sp.Type] = append(gold[sp.Type], Span{byteAt[sp.Start], byteAt[sp.End]})
		}
		for _, typ := range piiTypes {
			var c counts
			for _, g := range gold[typ] {
				if overlapsSpan(pred[typ], g) {
					c.tp++
				} else {
					c.fn++
					if i%2 == 0 {
						errs = append(errs, "FN "+typ+": "+quoteAround(d.FullText, g))
					}
				}
			}
			for _, p := range pred[typ] {
				if !overlapsSpan(gold[typ], p) {
					c.fp++
					if i%2 == 0 {
						errs = append(errs, "FP "+typ+": "+quoteAround(d.FullText, p))
					}
				}
			}
			for _, h := range []int{0, 1 + i%2} {
				per[typ][h].tp += c.tp
				per[typ][h].fp += c.fp
				per[typ][h].fn += c.fn
			}
		}
	}
	var rows [][]string
	for _, typ := range piiTypes {
		c := per[typ]
		rows = append(rows, []string{typ, itoa(c[0].tp + c[0].fn), f3(c[0].precision()), f3(c[0].recall()), f3(c[0].fbeta(1)),
			"**" + f3(c[0].fbeta(2)) + "**", f3(c[1].fbeta(2)), f3(c[2].fbeta(2))})
		if f2 := c[0].fbeta(2); f2 < 0.95 {
			t.Errorf("%s: F2 %.3f, want at least 0.95", typ, f2)
		}
	}
	table(t, "PII, Presidio synthetic set (1,500 sentences), span overlap",
		[]string{"entity", "gold", "precision", "recall", "F1", "F2", "F2 tuning half", "F2 held-out half"}, rows)
	if testing.Verbose() {
		for _, e := range errs {
			t.Log(e)
		}
	}
}

func overlapsSpan(spans []Span, x Span) bool {
	for _, s := range spans {
		if s.Start < x.End && x.Start < s.End {
			return true
		}
	}
	return false
}

func quoteAround(text string, sp Span) string {
	lo, hi := max(0, sp.Start-40), min(len(text), sp.End+20)
	return text[lo:sp.Start] + "«" + text[sp.Start:sp.End] + "»" + text[sp.End:hi]
}

func itoa(n int) string { return strconv.Itoa(n) }
