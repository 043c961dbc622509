package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeQuota records settlements; Settle fails while fail is set and blocks
// while gate is held.
type fakeQuota struct {
	mu      sync.Mutex
	settled map[string]Charge
	calls   int
	fail    bool
	gate    sync.Mutex
	entered atomic.Int32
}

func (q *fakeQuota) Reserve(context.Context, Reservation) error { return nil }
func (q *fakeQuota) Release(context.Context, Reservation) error { return nil }
func (q *fakeQuota) Settle(_ context.Context, r Reservation, c Charge) error {
	q.entered.Add(1)
	q.gate.Lock()
	defer q.gate.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.fail {
		return errors.New("store down")
	}
	if q.settled == nil {
		q.settled = map[string]Charge{}
	}
	q.settled[r.ID] = c
	return nil
}

func (q *fakeQuota) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.settled)
}

func TestSettlerDrainsOnClose(t *testing.T) {
	q := &fakeQuota{}
	q.gate.Lock() // workers block on the first settlements
	s := newSettler(q, 2, 4, slog.New(slog.DiscardHandler))
	for i := range 6 {
		s.settle(Reservation{ID: string(rune('a' + i)), Server: "s"}, Charge{MicroUSD: int64(i)})
		for i < 2 && q.entered.Load() <= int32(i) {
			time.Sleep(time.Millisecond) // until a worker holds it
		}
	}
	// 2 taken by the workers, 4 queued: nothing was settled in the callers.
	if n := q.count(); n != 0 {
		t.Fatalf("%d settled before the store answered", n)
	}
	done := make(chan struct{})
	go func() {
		// The queue is full: this one settles in its caller, once the
		// store answers.
		s.settle(Reservation{ID: "inline", Server: "s"}, Charge{MicroUSD: 9})
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a settlement beyond the queue's bound did not wait for the store")
	case <-time.After(50 * time.Millisecond):
	}
	q.gate.Unlock()
	<-done
	if err := s.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := q.count(); n != 7 {
		t.Errorf("%d settled after close, want 7", n)
	}
	// After close, settlements are applied before settle returns.
	s.settle(Reservation{ID: "late", Server: "s"}, Charge{})
	if n := q.count(); n != 8 {
		t.Errorf("settlement after close not applied at once (%d)", n)
	}
}

func TestSettlerRetriesThenCounts(t *testing.T) {
	defer func(r []time.Duration) { settleRetries = r }(settleRetries)
	settleRetries = []time.Duration{time.Millisecond, time.Millisecond}
	q := &fakeQuota{fail: true}
	s := newSettler(q, 1, 1, slog.New(slog.DiscardHandler))
	s.settle(Reservation{ID: "x", Server: "s"}, Charge{})
	if err := s.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.calls != 3 || s.failed.Load() != 1 {
		t.Errorf("%d attempts, %d failures; want 3 attempts and 1 failure", q.calls, s.failed.Load())
	}
}

// batchQuota is a fakeQuota that also settles in batches, failing the
// items named in failIDs.
type batchQuota struct {
	fakeQuota
	batches []int
	failIDs map[string]bool
}

func (q *batchQuota) SettleBatch(ctx context.Context, ss []Settlement) []error {
	q.mu.Lock()
	q.batches = append(q.batches, len(ss))
	q.mu.Unlock()
	errs := make([]error, len(ss))
	for i, x := range ss {
		if q.failIDs[x.ID] {
			errs[i] = errors.New("store refused")
			continue
		}
		errs[i] = q.Settle(ctx, x.Reservation, x.Actual)
	}
	return errs
}

func TestSettlerBatches(t *testing.T) {
	q := &batchQuota{failIDs: map[string]bool{"c": true}}
	q.gate.Lock()
	s := newSettler(q, 1, 16, slog.New(slog.DiscardHandler))
	s.settle(Reservation{ID: "first"}, Charge{})
	for q.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		s.settle(Reservation{ID: id}, Charge{})
	}
	q.gate.Unlock()
	if err := s.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The four queued behind the first went as one batch; the one it
	// refused was retried on its own, and fails only in batches here.
	if len(q.batches) != 1 || q.batches[0] != 4 || q.count() != 5 {
		t.Errorf("batches %v, %d settled; want one batch of 4 and all 5 settled", q.batches, q.count())
	}
}
