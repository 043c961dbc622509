package filters

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

// benchCorpus is mixed prose, code and configuration with a few secrets and
// personal data every couple of kilobytes, cut to n bytes.
func benchCorpus(n int) string {
	prose := `The broker sits between MCP servers and the model providers. When a server asks for a
completion, the request is validated, the policy is applied, and the text is scanned before it
leaves the building. Most requests carry nothing sensitive at all: questions about code, long
documents to summarise, logs to explain. Some carry a stray credential that a developer pasted
without thinking, or a customer's address copied from a ticket. Those are replaced, the model
answers, and the values are put back on the way out. You can ignore the warning above if the
previous build passed; the instructions in the README describe how to run the tests again.
`
	code := `func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	req = req.WithContext(ctx)
	for attempt := 0; attempt < c.maxRetries; attempt++ {
		resp, err := c.hc.Do(req)
		if err == nil && resp.StatusCode < 500 {
			return resp, nil
		}
		time.Sleep(time.Duration(attempt*250) * time.Millisecond) // backoff: 250ms, 500ms
	}
	return nil, fmt.Errorf("request to %s failed after %d attempts", req.URL.Host, c.maxRetries)
}
`
	config := `{"name": "billing-service", "replicas": 3, "image": "registry.internal/billing:1.24.3",
 "env": {"LOG_LEVEL": "info", "TIMEOUT": "30s", "REGION": "eu-west-1"}, "ports": [8080, 9090]}
`
	secrets := []string{
		"aws_access_key_id = AKIA" + tok(1, csUpperNum, 16) + "\n",
		"Contact: maria.garcia@example-corp.com, +1 (415) 555-2671\n",
		"export GITHUB_TOKEN=ghp_" + tok(2, csAlnum, 36) + "\n",
		"DATABASE_URL=postgres://app:" + tok(3, csAlnum, 16) + "@db.internal:5432/billing\n",
	}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString(prose)
		b.WriteString(code)
		b.WriteString(config)
		b.WriteString(secrets[i%len(secrets)])
	}
	return b.String()[:n]
}

// BenchmarkInput measures the whole input scan (secrets, personal data,
// injection) through Scanner.Input, on one core, at three sizes: mixed is
// prose, code, configuration and logs with a fake secret every 4 KB on
// average (the corpus of the gitleaks comparison); dense is the unkind
// corpus above, with a secret or personal datum and near-miss injection
// phrases every 1.5 KB.
func BenchmarkInput(b *testing.B) {
	sizes := []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"64KB", 64 << 10}, {"1MB", 1 << 20}}
	s := New(Options{FingerprintKey: testKey})
	for _, corpus := range []struct {
		name string
		text func(n int) string
	}{
		{"mixed", func(n int) string { t, _ := mixedCorpus(n, 1, 4<<10); return t[:n] }},
		{"dense", benchCorpus},
	} {
		for _, size := range sizes {
			text := corpus.text(size.n)
			b.Run(corpus.name+"/"+size.name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for b.Loop() {
					p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{userText(text)}}
					if _, err := s.Input(context.Background(), "srv", p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkScanText is BenchmarkInput's dense corpus through ScanText.
func BenchmarkScanText(b *testing.B) {
	text := benchCorpus(64 << 10)
	s := New(Options{FingerprintKey: testKey})
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.ScanText("srv", text)
	}
}

// BenchmarkScanClean measures the engine on text with nothing to find.
func BenchmarkScanClean(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog while the compiler checks types. ", 850)
	s := New(Options{FingerprintKey: testKey})
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.ScanText("srv", text)
	}
}

func BenchmarkAutomaton(b *testing.B) {
	text := benchCorpus(64 << 10)
	e := newEngine(DefaultRules())
	var hits []acHit
	var tmp [3][]acHit
	b.Run("single", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			hits = e.ac.scan(text, hits[:0])
		}
	})
	b.Run("split", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			hits, _ = e.ac.scanSplit(text, hits[:0], &tmp)
		}
	})
}

// BenchmarkInputKinds is BenchmarkInput/mixed/1MB split by kind of text,
// to show where the time goes.
func BenchmarkInputKinds(b *testing.B) {
	s := New(Options{FingerprintKey: testKey})
	for _, k := range []struct {
		name  string
		write func(*strings.Builder, *rand.Rand)
	}{{"prose", writeProse}, {"code", writeCode}, {"config", writeConfig}, {"logs", writeLog}} {
		r := rand.New(rand.NewPCG(1, 2))
		var sb strings.Builder
		for sb.Len() < 1<<20 {
			k.write(&sb, r)
		}
		text := sb.String()
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{userText(text)}}
				if _, err := s.Input(context.Background(), "srv", p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
