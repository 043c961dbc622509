package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
)

var _ broker.AuditSink = (*Chain)(nil)

// fakeSink is a Sink whose Append is AppendFn.
type fakeSink struct {
	AppendFn func(ctx context.Context, recs []Record) error
}

var _ Sink = (*fakeSink)(nil)

func (f *fakeSink) Append(ctx context.Context, recs []Record) error { return f.AppendFn(ctx, recs) }
func (f *fakeSink) Close() error                                    { return nil }

// TestChainConcurrentOrder: many goroutines record at once; the trail is
// one gapless chain holding every event once.
func TestChainConcurrentOrder(t *testing.T) {
	f := newFile(t, FileOptions{})
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{f}, Options{MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := c.Record(context.Background(), testEvent(w*each+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, f)
	if len(recs) != workers*each {
		t.Fatalf("%d records, want %d", len(recs), workers*each)
	}
	ids := map[string]bool{}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		var e broker.Event
		if err := json.Unmarshal(r.Event, &e); err != nil {
			t.Fatal(err)
		}
		ids[e.ID] = true
	}
	if len(ids) != workers*each {
		t.Errorf("%d distinct events, want %d", len(ids), workers*each)
	}
	if rep := verify(t, f); !rep.OK() {
		t.Errorf("problems: %v", rep.Problems)
	}
}

// TestChainResume: a new chain on the same sinks continues the old one.
func TestChainResume(t *testing.T) {
	f := newFile(t, FileOptions{})
	writeEvents(t, "web-1", 3, f)
	f2, err := OpenFile(f.path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{f2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cp := c.Checkpoint(); cp.Seq != 3 {
		t.Errorf("checkpoint after resuming = %+v, want seq 3", cp)
	}
	if err := c.Record(context.Background(), testEvent(4)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, seqs(readAll(t, f2))); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	if rep := verify(t, f2); !rep.OK() {
		t.Errorf("problems: %v", rep.Problems)
	}
}

// TestChainCatchUp: after a crash between two sinks' writes, the sink
// behind is given what it lacks before anything new.
func TestChainCatchUp(t *testing.T) {
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	open := func() (*File, *File) {
		a, err := OpenFile(pa, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := OpenFile(pb, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	a, b := open()
	writeEvents(t, "web-1", 5, a, b)
	// b loses its last two records.
	data, _ := os.ReadFile(pb)
	lines := bytes.SplitAfter(data, []byte("\n"))
	os.WriteFile(pb, bytes.Join(lines[:3], nil), 0o600)

	a, b = open()
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{a, b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(context.Background(), testEvent(6)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, p := range []string{pa, pb} {
		r := NewFileReader(p)
		if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5, 6}, seqs(readAll(t, r))); diff != "" {
			t.Errorf("%s: seqs (-want +got):\n%s", filepath.Base(p), diff)
		}
		if rep := verify(t, r); !rep.OK() {
			t.Errorf("%s: problems: %v", filepath.Base(p), rep.Problems)
		}
	}
}

// TestChainSinkFailure: while a sink fails, records fail fast and are kept;
// when it recovers it receives them in order, with no gap.
func TestChainSinkFailure(t *testing.T) {
	var (
		mu     sync.Mutex
		down   = true
		stored []uint64
		calls  int
	)
	sink := &fakeSink{AppendFn: func(_ context.Context, recs []Record) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if down {
			return errors.New("connection refused")
		}
		stored = append(stored, seqs(recs)...)
		return nil
	}}
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{sink}, Options{RetryAfter: time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Record(ctx, testEvent(1)); err == nil {
		t.Fatal("Record succeeded with its only sink down")
	}
	// Within RetryAfter the sink is not tried again.
	if err := c.Record(ctx, testEvent(2)); err == nil {
		t.Fatal("Record succeeded with its only sink down")
	}
	if calls != 1 {
		t.Errorf("sink tried %d times within RetryAfter, want 1", calls)
	}
	if cp := c.Checkpoint(); cp.Seq != 0 {
		t.Errorf("checkpoint %+v while no record is stored", cp)
	}
	mu.Lock()
	down, now = false, now.Add(2*time.Second)
	mu.Unlock()
	if err := c.Record(ctx, testEvent(3)); err != nil {
		t.Fatalf("Record after recovery: %v", err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, stored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if cp := c.Checkpoint(); cp.Seq != 3 {
		t.Errorf("checkpoint = %+v, want seq 3", cp)
	}
}

// TestChainBacklogCap: a sink down for long loses its oldest records only.
func TestChainBacklogCap(t *testing.T) {
	var stored []uint64
	down := true
	sink := &fakeSink{AppendFn: func(_ context.Context, recs []Record) error {
		if down {
			return errors.New("down")
		}
		stored = append(stored, seqs(recs)...)
		return nil
	}}
	now := t0
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{sink}, Options{Backlog: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5 {
		c.Record(context.Background(), testEvent(i))
	}
	down, now = false, now.Add(time.Hour)
	if err := c.Record(context.Background(), testEvent(6)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{3, 4, 5, 6}, stored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

func TestChainClosed(t *testing.T) {
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{NewWriter(&bytes.Buffer{})}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(context.Background(), testEvent(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNewChainRefuses(t *testing.T) {
	w := []Sink{NewWriter(&bytes.Buffer{})}
	tests := []struct {
		name  string
		id    string
		key   []byte
		sinks []Sink
	}{
		{"empty id", "", testKey, w},
		{"id with a colon", "web:1", testKey, w},
		{"short key", "web-1", []byte("short"), w},
		{"no sink", "web-1", testKey, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := NewChain(context.Background(), tt.id, tt.key, tt.sinks, Options{}); err == nil {
				c.Close()
				t.Error("NewChain accepted it")
			}
		})
	}
}

// TestWriterSink: the stdout sink writes the wire form, one line a record.
func TestWriterSink(t *testing.T) {
	var buf bytes.Buffer
	writeEvents(t, "web-1", 2, NewWriter(&buf))
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.Bytes())
	}
	var recs []Record
	for _, l := range lines {
		r, err := ParseRecord(l)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	rep, err := Verify(context.Background(), testKey, recordsOf(recs), nil)
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %v", err, rep)
	}
}

// TestRecordHoldsNoSecret: the record is the event's own JSON, and the
// event type carries no prompt text unless a server opts in.
func TestRecordWireForm(t *testing.T) {
	var buf bytes.Buffer
	writeEvents(t, "web-1", 1, NewWriter(&buf))
	var got map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"chain", "seq", "prev", "hash", "event"} {
		if _, ok := got[k]; !ok {
			t.Errorf("record lacks %q: %s", k, buf.Bytes())
		}
	}
	want, _ := json.Marshal(testEvent(1))
	if !bytes.Equal(got["event"], want) {
		t.Errorf("event = %s, want the event's own JSON %s", got["event"], want)
	}
	if string(got["prev"]) != `"`+genesis+`"` {
		t.Errorf("prev of the first record = %s, want zeros", got["prev"])
	}
}

// TestChainAsyncSink: Record waits for the synchronous sink only; the
// async one receives every record, in order, once it can.
func TestChainAsyncSink(t *testing.T) {
	f := newFile(t, FileOptions{})
	release := make(chan struct{})
	var (
		mu     sync.Mutex
		stored []uint64
	)
	slow := &fakeSink{AppendFn: func(ctx context.Context, recs []Record) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		stored = append(stored, seqs(recs)...)
		mu.Unlock()
		return nil
	}}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{f, Async(slow)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := c.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if cp := c.Checkpoint(); cp.Seq != 5 {
		t.Errorf("checkpoint %+v, want seq 5 while the async sink lags", cp)
	}
	close(release)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5}, stored); diff != "" {
		t.Errorf("async sink got (-want +got):\n%s", diff)
	}
}

// TestChainAsyncLag: an async sink down for more than MaxLag records
// fails Record, and readiness.
func TestChainAsyncLag(t *testing.T) {
	down := &fakeSink{AppendFn: func(context.Context, []Record) error { return errors.New("connection refused") }}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{NewWriter(&bytes.Buffer{}), Async(down)}, Options{MaxLag: 2, RetryAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 2; i++ {
		if err := c.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if err := c.Record(context.Background(), testEvent(3)); err == nil {
		t.Error("Record succeeded 3 records behind with MaxLag 2")
	}
	if err := c.Check(context.Background()); err == nil {
		t.Error("Check passed with the async sink 3 records behind")
	}
	if _, err := NewChain(context.Background(), "web-1", testKey, []Sink{Async(down)}, Options{}); err == nil {
		t.Error("NewChain accepted async sinks only")
	}
}

// TestChainAsyncRedisCatchUp: the process died before the async stream
// had the last records; on start the stream is given them from the file.
func TestChainAsyncRedisCatchUp(t *testing.T) {
	rc := redisClient(t)
	key := testStream(t, rc)
	f := newFile(t, FileOptions{})
	s := NewRedisStream(rc, key, RedisOptions{})
	writeEvents(t, "web-1", 6, f, Async(s))
	// The stream loses its last two entries, as in a crash.
	ctx := context.Background()
	msgs, err := rc.XRevRangeN(ctx, key, "+", "-", 2).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		rc.XDel(ctx, key, m.ID)
	}
	f2, err := OpenFile(f.path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChain(ctx, "web-1", testKey, []Sink{f2, Async(s)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(ctx, testEvent(7)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for name, src := range map[string]Source{"file": f2, "redis": s} {
		if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5, 6, 7}, seqs(readAll(t, src))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if rep := verify(t, src); !rep.OK() {
			t.Errorf("%s: %v", name, rep.Problems)
		}
	}
}
