package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/airlock-broker/airlock/broker"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testEvent returns the i-th of a varied set of events.
func testEvent(i int) *broker.Event {
	e := &broker.Event{
		ID:       fmt.Sprintf("req-%05d", i),
		Time:     t0.Add(time.Duration(i) * time.Second),
		Server:   []string{"alpha", "beta", "gamma"}[i%3],
		Caller:   "1a2b3c4d@127.0.0.1",
		Version:  "2025-06-18",
		Method:   broker.MethodCreateMessage,
		Hints:    []string{"claude-3-sonnet"},
		Model:    "gpt-4o-mini",
		ModelBy:  "default",
		Decision: broker.DecisionServed,

		PromptTokensEstimated: 120,
		MaxTokens:             256,
		PromptTokens:          100,
		CompletionTokens:      50,
		ReservedMicroUSD:      200,
		SettledMicroUSD:       45,
		UpstreamStatus:        200,
		UpstreamAttempts:      1,
		TotalMicros:           1500,
	}
	e.Stages[broker.StageValidate] = 20 * time.Microsecond
	e.Stages[broker.StageProvider] = time.Millisecond
	switch i % 4 {
	case 1:
		e.Decision, e.Reason = broker.DecisionBlocked, broker.ReasonInjectionDetected
		e.Findings = []broker.Finding{{Stage: "input", Type: "injection", Rule: "ignore-previous", Action: "block", Confidence: 0.9, Fingerprint: "f00d"}}
	case 2:
		e.Decision, e.Reason = broker.DecisionRefused, broker.ReasonBudgetExceeded
	}
	return e
}

// writeEvents records events 1..n through a new chain and closes it.
func writeEvents(t testing.TB, id string, n int, sinks ...Sink) Checkpoint {
	t.Helper()
	c, err := NewChain(context.Background(), id, testKey, sinks, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := c.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp := c.Checkpoint()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return cp
}

func newFile(t testing.TB, opts FileOptions) *File {
	t.Helper()
	f, err := OpenFile(filepath.Join(t.TempDir(), "audit.jsonl"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readAll reads every record of src, failing on any error.
func readAll(t testing.TB, src Source) []Record {
	t.Helper()
	var out []Record
	for r, err := range src.Records(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func seqs(recs []Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

func verify(t testing.TB, src Source, cps ...Checkpoint) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), testKey, src.Records(context.Background(), ""), cps)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func kinds(rep *Report) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.Kind)
	}
	return out
}

func redisAddr() string {
	if a := os.Getenv("AIRLOCK_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// redisClient connects to the test Redis, or skips the test.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	addr := redisAddr()
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Skipf("redis not reachable at %s: run scripts/test.sh, which starts it (%v)", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testStream returns a stream key of the test's own, deleted at the end.
func testStream(t testing.TB, c *redis.Client) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	key := "airlock-test:audit:" + hex.EncodeToString(b[:])
	t.Cleanup(func() { c.Del(context.Background(), key) })
	return key
}

func sortedCopy(s []uint64) []uint64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func recordsOf(recs []Record) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
