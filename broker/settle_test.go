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
