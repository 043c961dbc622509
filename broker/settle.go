package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// settler applies settlements after the response has gone. Waiting for
// the budget store before answering bought nothing: the hold already
// covers the request's worst case, so the books are never short while a
// settlement waits, and a hold that is never settled (the process died) is
// charged in full when it expires. A bounded queue feeds a few workers,
// which retry; when it is full, the request settles once in its own
// goroutine, which slows it down instead of growing memory.
type settler struct {
	q   Quota
	log *slog.Logger

	mu     sync.RWMutex // guards sends on jobs against close
	closed bool
	jobs   chan Settlement
	wg     sync.WaitGroup
	failed atomic.Int64
}

// maxSettleBatch bounds the settlements one worker sends at once.
const maxSettleBatch = 128

// settleRetries are the waits between attempts of a settlement that
// failed; after the last one it is left to expire, charged in full.
var settleRetries = []time.Duration{50 * time.Millisecond, 500 * time.Millisecond}

func newSettler(q Quota, workers, queue int, log *slog.Logger) *settler {
	s := &settler{q: q, log: log, jobs: make(chan Settlement, queue)}
	s.wg.Add(workers)
	for range workers {
		go s.run()
	}
	return s
}

// settle settles r at actual, in the background unless the queue is full
// or the settler is closed.
func (s *settler) settle(r Reservation, actual Charge) {
	j := Settlement{Reservation: r, Actual: actual}
	s.mu.RLock()
	if !s.closed {
		select {
		case s.jobs <- j:
			s.mu.RUnlock()
			return
		default:
		}
	}
	s.mu.RUnlock()
	s.apply(j, 0) // once: the response waits for it
}

// run applies queued settlements: those that queued up together in one
// batch when the quota can, so that a busy broker makes fewer round trips.
func (s *settler) run() {
	defer s.wg.Done()
	bs, _ := s.q.(BatchSettler)
	batch := make([]Settlement, 0, maxSettleBatch)
	for j := range s.jobs {
		batch = append(batch[:0], j)
	more:
		for len(batch) < maxSettleBatch && bs != nil {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break more
				}
				batch = append(batch, j)
			default:
				break more
			}
		}
		if len(batch) == 1 {
			s.apply(batch[0], len(settleRetries))
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs := bs.SettleBatch(ctx, batch)
		cancel()
		for i := range batch {
			if i >= len(errs) || errs[i] != nil {
				s.apply(batch[i], len(settleRetries)) // retried on its own
			}
		}
	}
}

// apply settles j, retrying up to retries times (see settleRetries).
func (s *settler) apply(j Settlement, retries int) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.q.Settle(ctx, j.Reservation, j.Actual)
		cancel()
		if err == nil {
			return
		}
		if attempt >= retries {
			s.failed.Add(1)
			s.log.Error("settlement failed; the hold will be charged in full when it expires",
				"request_id", j.ID, "server", j.Server, "err", err)
			return
		}
		time.Sleep(settleRetries[attempt])
	}
}

// close settles what is queued and stops the workers, or gives up when ctx
// ends (the holds left are charged in full when they expire).
func (s *settler) close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
