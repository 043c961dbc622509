package filters

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The evaluation harness measures the detectors on public labelled data
// that lives beside the project (see ../shared/eval/README.md), not in it.
// Run it with
//
//	AIRLOCK_EVAL=../shared/eval go test ./filters -run Eval -v
//
// It prints markdown tables (the figures in BENCHMARKS.md) and fails when
// a detector falls below the floors.

func evalDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AIRLOCK_EVAL")
	if dir == "" {
		t.Skip("AIRLOCK_EVAL is not set; set it to the evaluation data directory (../shared/eval) to measure the detectors")
	}
	if !filepath.IsAbs(dir) {
		// Relative to the repository's root, where the command is typed;
		// tests run in the package's directory.
		dir = filepath.Join("..", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Skipf("AIRLOCK_EVAL=%s holds no evaluation data: %v", dir, err)
	}
	return dir
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readJSONL decodes a JSON Lines file, gzipped if its name ends in .gz.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	var out []T
	dec := json.NewDecoder(r)
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// counts are the confusion counts of one detector.
type counts struct{ tp, fp, fn, tn int }

func (c counts) precision() float64 { return ratio(c.tp, c.tp+c.fp) }
func (c counts) recall() float64    { return ratio(c.tp, c.tp+c.fn) }
func (c counts) fbeta(beta float64) float64 {
	p, r := c.precision(), c.recall()
	if p+r == 0 {
		return 0
	}
	b2 := beta * beta
	return (1 + b2) * p * r / (b2*p + r)
}
func (c counts) fpr() float64 { return ratio(c.fp, c.fp+c.tn) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
func f3(x float64) string  { return fmt.Sprintf("%.3f", x) }

// table logs a markdown table.
func table(t *testing.T, title string, header []string, rows [][]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n\n| %s |\n|", title, strings.Join(header, " | "))
	for range header {
		b.WriteString(" --- |")
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "\n| %s |", strings.Join(r, " | "))
	}
	t.Log(b.String())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
