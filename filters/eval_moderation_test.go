package filters

import (
	"path/filepath"
	"testing"
)

// moderationKeys maps the data set's label keys to the categories.
var moderationKeys = map[string]string{
	"S": HarmSexual, "H": HarmHate, "V": HarmViolence, "HR": HarmHarassment, "SH": HarmSelfHarm,
	"S3": HarmSexualMinors, "H2": HarmHateThreatening, "V2": HarmViolenceGraphic,
}

// TestEvalModeration measures the harmful-content classifier on OpenAI's
// 1,680 labelled samples, per category, counting only the samples whose
// label for that category is known. Samples are split in two fixed halves
// (even and odd index); the lexicon was tuned looking at the first only.
func TestEvalModeration(t *testing.T) {
	dir := evalDir(t)
	rows := readJSONL[map[string]any](t, filepath.Join(dir, "moderation", "openai_samples-1680.jsonl.gz"))
	h := NewHarmClassifier(HarmFlag)
	per := map[string]*[3]counts{}
	for _, c := range HarmCategories {
		per[c] = &[3]counts{}
	}
	for i, r := range rows {
		text, _ := r["prompt"].(string)
		scores := h.Scores(text)
		for key, cat := range moderationKeys {
			v, ok := r[key].(float64)
			if !ok {
				continue // unknown
			}
			pred := scores[cat] >= 0.5
			for _, k := range []int{0, 1 + i%2} {
				c := &per[cat][k]
				switch {
				case v == 1 && pred:
					c.tp++
				case v == 1:
					c.fn++
				case pred:
					c.fp++
				default:
					c.tn++
				}
			}
		}
	}
	var out [][]string
	for _, cat := range HarmCategories {
		c := per[cat]
		out = append(out, []string{cat, itoa(c[0].tp + c[0].fn), itoa(c[0].tp + c[0].fn + c[0].fp + c[0].tn),
			f3(c[0].precision()), f3(c[0].recall()), f3(c[0].fbeta(1)), pct(c[0].fpr()),
			f3(c[1].fbeta(1)), f3(c[2].fbeta(1))})
	}
	table(t, "Harmful content, OpenAI moderation samples (1,680), lexicon classifier, threshold 0.5",
		[]string{"category", "positives", "labelled", "precision", "recall", "F1", "false-positive rate", "F1 tuning half", "F1 held-out half"}, out)
}
