package filters

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestGitleaksParity runs gitleaks and the scanner on the same 16 MB mixed
// corpus and checks that every secret gitleaks reports is found (redacted)
// by the scanner too. It logs the recall of both on the planted secrets and
// their speed on one core. Set AIRLOCK_GITLEAKS to a gitleaks v8 binary:
//
//	go install github.com/zricethezav/gitleaks/v8@v8.30.1
//	AIRLOCK_GITLEAKS=$(go env GOPATH)/bin/gitleaks go test ./filters -run GitleaksParity -v
func TestGitleaksParity(t *testing.T) {
	bin := os.Getenv("AIRLOCK_GITLEAKS")
	if bin == "" {
		t.Skip("AIRLOCK_GITLEAKS is not set; set it to a gitleaks v8 binary to compare with gitleaks")
	}
	const files, perFile, plantEvery = 16, 1 << 20, 4 << 10
	dir := t.TempDir()
	texts := make([]string, files)
	planted := make([][]plant, files)
	total := 0
	for i := range files {
		texts[i], planted[i] = mixedCorpus(perFile, uint64(i+1), plantEvery)
		total += len(texts[i])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.txt", i)), []byte(texts[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// gitleaks, its default rules and options, on one core like the scanner.
	report := filepath.Join(t.TempDir(), "gitleaks.json")
	cmd := exec.Command(bin, "dir", dir, "--report-format", "json", "--report-path", report,
		"--no-banner", "--exit-code", "0", "--log-level", "error")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	glTime := time.Since(start)
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var leaks []struct {
		RuleID             string
		File               string
		StartLine, EndLine int
		StartColumn        int
		Secret             string
		Tags               []string
	}
	if err := json.Unmarshal(raw, &leaks); err != nil {
		t.Fatal(err)
	}

	// The scanner: the whole input scan for speed, then its secret spans.
	s := New(Options{FingerprintKey: testKey})
	start = time.Now()
	for _, text := range texts {
		s.ScanText("srv", text)
	}
	alTime := time.Since(start)
	spans := make([][]Span, files)
	for i, text := range texts {
		spans[i] = secretSpans(s, text)
	}

	// Every gitleaks finding must overlap a secret the scanner found, but
	// one kind: gitleaks runs a rule on a whole chunk (about 100 KB) as
	// soon as one of its keywords occurs anywhere in it, and its
	// sourcegraph-access-token rule takes any 40-hex word for a token, so
	// every git commit hash of a chunk that mentions Sourcegraph is
	// reported. The scanner wants the name next to the value; those are
	// counted apart, as artifacts.
	var missed []string
	artifacts := 0
	byRule := map[string]int{}
	for _, l := range leaks {
		i := -1
		fmt.Sscanf(filepath.Base(l.File), "part-%02d.txt", &i)
		if i < 0 || i >= files {
			t.Fatalf("gitleaks reports unknown file %s", l.File)
		}
		byRule[l.RuleID]++
		at := locate(texts[i], l.Secret, l.StartLine, l.StartColumn)
		if at < 0 {
			missed = append(missed, fmt.Sprintf("%s %s:%d: secret %q not found in the text (tags %v)", l.RuleID, l.File, l.StartLine, l.Secret, l.Tags))
			continue
		}
		if !overlapsAny(spans[i], at, at+len(l.Secret)) {
			if line := lineAround(texts[i], at); l.RuleID == "sourcegraph-access-token" && len(l.Secret) == 40 &&
				isHexString(l.Secret) && !containsFold(line, "sourcegraph") && !containsFold(line, "sgp_") {
				artifacts++
				continue
			}
			missed = append(missed, fmt.Sprintf("%s %s:%d: %q", l.RuleID, filepath.Base(l.File), l.StartLine, lineAround(texts[i], at)))
		}
	}

	// Recall of both on the planted secrets.
	nPlanted, alFound, glFound := 0, 0, 0
	missedPlant := map[string]int{}
	for i := range files {
		var gl []Span
		for _, l := range leaks {
			var k int
			fmt.Sscanf(filepath.Base(l.File), "part-%02d.txt", &k)
			if at := locate(texts[i], l.Secret, l.StartLine, l.StartColumn); k == i && at >= 0 {
				gl = append(gl, Span{at, at + len(l.Secret)})
			}
		}
		for _, p := range planted[i] {
			nPlanted++
			if overlapsAny(spans[i], p.Start, p.End) {
				alFound++
			} else {
				missedPlant[p.rule]++
			}
			if overlapsAny(gl, p.Start, p.End) {
				glFound++
			}
		}
	}

	mb := float64(total) / 1e6
	t.Logf("corpus: %d files, %.1f MB, %d planted secrets of %d formats", files, mb, nPlanted, len(secretDefs()))
	t.Logf("gitleaks: %d findings, %d rules; planted found %d/%d (%.1f%%); %.2fs, %.1f MB/s (GOMAXPROCS=1)",
		len(leaks), len(byRule), glFound, nPlanted, 100*float64(glFound)/float64(nPlanted), glTime.Seconds(), mb/glTime.Seconds())
	t.Logf("airlock:  planted found %d/%d (%.1f%%); whole input scan %.2fs, %.1f MB/s (one goroutine)",
		alFound, nPlanted, 100*float64(alFound)/float64(nPlanted), alTime.Seconds(), mb/alTime.Seconds())
	t.Logf("gitleaks findings the scanner also finds: %d/%d, and %d commit hashes that gitleaks reports as Sourcegraph tokens because the word occurs on another line of their 100 KB chunk",
		len(leaks)-len(missed)-artifacts, len(leaks)-artifacts, artifacts)
	if len(missedPlant) > 0 {
		t.Logf("planted secrets the scanner misses, by rule: %v", missedPlant)
	}
	sort.Strings(missed)
	for _, m := range missed {
		t.Errorf("gitleaks finding the scanner misses: %s", m)
	}
}

// secretSpans returns the spans of the secrets the scanner redacts in
// text, which must be ASCII.
func secretSpans(s *Scanner, text string) []Span {
	st := s.eng.get()
	defer s.eng.put(st)
	s.eng.scan(text, s.def.on[scopeText], false, st)
	redact, _ := s.eng.resolve(st)
	var out []Span
	for _, m := range redact {
		if s.eng.rules[m.rule].Type == TypeSecret {
			out = append(out, Span{m.Start, m.End})
		}
	}
	return out
}

// locate returns the offset of secret in text nearest to gitleaks' line
// and column (1-based), or -1.
func locate(text, secret string, line, col int) int {
	if secret == "" {
		return -1
	}
	lineStart, l := 0, 1
	for l < line {
		k := strings.IndexByte(text[lineStart:], '\n')
		if k < 0 {
			break
		}
		lineStart += k + 1
		l++
	}
	want := lineStart + col - 1
	best, bestD := -1, 1<<62
	lo := max(0, want-4096)
	for off := lo; off < len(text) && off < want+4096; {
		k := strings.Index(text[off:], secret)
		if k < 0 {
			break
		}
		at := off + k
		if d := abs(at - want); d < bestD {
			best, bestD = at, d
		}
		off = at + 1
	}
	return best
}

func overlapsAny(spans []Span, s, e int) bool {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].End > s })
	return i < len(spans) && spans[i].Start < e
}

func lineAround(text string, at int) string {
	s := strings.LastIndexByte(text[:at], '\n') + 1
	e := strings.IndexByte(text[at:], '\n')
	if e < 0 {
		e = len(text)
	} else {
		e += at
	}
	return text[max(s, at-120):min(e, at+120)]
}
