package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Sink stores sealed records. A Chain calls Append from one goroutine at a
// time, with the records of its chain in order.
type Sink interface {
	// Append stores recs, all of them or, as nearly as the store allows,
	// none. After an error the chain hands the same records again, first,
	// on the next call: a sink that may have stored part of a failed call
	// must skip what it already holds.
	Append(ctx context.Context, recs []Record) error
	Close() error
}

// Async marks s as a sink the chain does not wait for: a replica of the
// trail (a Redis stream fed beside a local file) that follows the
// synchronous sinks from a goroutine of its own, so its round trip is not
// added to requests. Records still in flight when the process dies are
// not lost: on start the chain gives a sink found behind the records it
// lacks, from a synchronous sink that holds them. While it lags by more
// than Options.MaxLag records, Record fails as if the sink were
// synchronous. A chain needs at least one synchronous sink.
func Async(s Sink) Sink { return asyncSink{s} }

type asyncSink struct{ Sink }

// sinkState is a sink and what it still lacks. The fields are guarded by
// mu: for an async sink, the writer and the follower share them.
type sinkState struct {
	sink  Sink
	async bool

	mu      sync.Mutex
	backlog []Record // sealed records the sink does not hold yet, in order
	failed  error    // the last error, until a write succeeds
	retryAt time.Time
	wait    time.Duration
	kick    chan struct{} // async: wakes the follower
}

func newSinkState(s Sink) *sinkState {
	if a, ok := s.(asyncSink); ok {
		return &sinkState{sink: a.Sink, async: true, kick: make(chan struct{}, 1)}
	}
	return &sinkState{sink: s}
}

// write hands recs to every sink and returns the errors of the
// synchronous ones that failed, and of async ones lagging too far.
func (c *Chain) write(recs []Record) error {
	var errs []error
	for _, st := range c.sinks {
		var err error
		if st.async {
			err = st.enqueue(c, recs)
		} else {
			err = st.flush(c, recs)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	last := &recs[len(recs)-1]
	c.cpMu.Lock()
	c.cp = last.Checkpoint(c.opts.Now())
	c.cpMu.Unlock()
	return nil
}

// flush appends the backlog, then recs, to a synchronous sink, unless it
// failed and its retry time has not come: then it fails at once.
func (st *sinkState) flush(c *Chain, recs []Record) error {
	st.mu.Lock()
	all := recs
	if len(st.backlog) > 0 {
		all = append(st.backlog, recs...)
	}
	st.backlog = nil
	if now := c.opts.Now(); st.failed != nil && now.Before(st.retryAt) {
		err := fmt.Errorf("audit sink failing, next try in %v: %w", st.retryAt.Sub(now).Round(time.Millisecond), st.failed)
		st.keep(c, all)
		st.mu.Unlock()
		return err
	}
	st.mu.Unlock()
	err := st.append(c, all)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.settle(c, all, len(all)-len(recs), err)
	return err
}

// append writes all to the sink, bounded by the write timeout.
func (st *sinkState) append(c *Chain, all []Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WriteTimeout)
	defer cancel()
	return st.sink.Append(ctx, all)
}

// settle records the outcome of writing all, of which the first caughtUp
// were held back before. On failure all goes back before anything queued
// since. The caller holds st.mu.
func (st *sinkState) settle(c *Chain, all []Record, caughtUp int, err error) {
	if err != nil {
		if st.failed == nil {
			c.log.Error("audit sink failed", "chain", c.id, "async", st.async, "err", err)
		}
		st.failed, st.wait = err, min(max(2*st.wait, c.opts.RetryAfter), 30*time.Second)
		st.retryAt = c.opts.Now().Add(st.wait)
		st.keep(c, append(all, st.backlog...))
		return
	}
	if st.failed != nil {
		c.log.Info("audit sink recovered", "chain", c.id, "async", st.async, "records_caught_up", caughtUp)
	}
	st.failed, st.wait = nil, 0
}

// keep makes all the backlog, dropping the oldest over the cap: the
// sink's trail will show them as deleted. The caller holds st.mu. A
// backlog is appended to in place: whoever takes it sets st.backlog to
// nil, and a batch shared by the sinks has no spare capacity.
func (st *sinkState) keep(c *Chain, all []Record) {
	if n := len(all) - c.opts.Backlog; n > 0 {
		c.log.Error("audit sink backlog full: records dropped from this sink", "chain", c.id, "dropped", n, "first_seq", all[0].Seq)
		all = all[n:]
	}
	st.backlog = all
}

// enqueue queues recs for an async sink and wakes its follower. It fails
// when the sink lags by more than MaxLag records.
func (st *sinkState) enqueue(c *Chain, recs []Record) error {
	st.mu.Lock()
	st.keep(c, append(st.backlog, recs...))
	lag, failed := len(st.backlog), st.failed
	st.mu.Unlock()
	select {
	case st.kick <- struct{}{}:
	default:
	}
	if lag > c.opts.MaxLag {
		if failed == nil {
			failed = errors.New("too slow")
		}
		return fmt.Errorf("async audit sink %d records behind: %w", lag, failed)
	}
	return nil
}

// follow writes what an async sink lacks until stop is closed, then tries
// once more.
func (st *sinkState) follow(c *Chain, stop <-chan struct{}) {
	for {
		select {
		case <-st.kick:
		case <-stop:
			st.drain(c)
			return
		}
		// Let a batch gather: fewer, larger writes cost the requests
		// sharing these cores less.
		t := time.NewTimer(c.opts.AsyncInterval)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			st.drain(c)
			return
		}
		for st.drain(c) != nil {
			st.mu.Lock()
			d := st.retryAt.Sub(c.opts.Now())
			st.mu.Unlock()
			t := time.NewTimer(max(d, time.Millisecond))
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				st.drain(c)
				return
			}
		}
	}
}

// drain writes the backlog of an async sink once.
func (st *sinkState) drain(c *Chain) error {
	st.mu.Lock()
	all := st.backlog
	st.backlog = nil
	st.mu.Unlock()
	if len(all) == 0 {
		return nil
	}
	err := st.append(c, all)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.settle(c, all, 0, err)
	return err
}

// check reports a synchronous sink failing, or an async one lagging.
func (st *sinkState) check(c *Chain) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case !st.async && st.failed != nil:
		return st.failed
	case st.async && len(st.backlog) > c.opts.MaxLag:
		return fmt.Errorf("async audit sink %d records behind: %v", len(st.backlog), st.failed)
	}
	return nil
}
