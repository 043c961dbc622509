package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit chain closed")

// Options tune a Chain. The zero value works.
type Options struct {
	// MaxBatch is the most records written to the sinks in one go.
	// Default 512.
	MaxBatch int
	// Backlog is how many records a failing sink keeps to write again when
	// it recovers; older ones are dropped, which its trail shows as a gap.
	// Default 100000.
	Backlog int
	// MaxLag is how many records an Async sink may lag behind before
	// Record fails. Default 10000.
	MaxLag int
	// AsyncInterval is how often, at most, an Async sink is written, so
	// that a busy chain writes it in batches. Default 2ms.
	AsyncInterval time.Duration
	// WriteTimeout bounds one write to a sink. Default 5s.
	WriteTimeout time.Duration
	// RetryAfter is how long a failing sink is left alone before the next
	// try; meanwhile writes fail at once instead of waiting on it. It
	// doubles up to 30s while the sink keeps failing. Default 500ms.
	RetryAfter time.Duration
	// CheckpointEvery logs the chain's checkpoint at this interval (when it
	// moved), so that the log pipeline keeps a copy outside the trail.
	// Zero never does.
	CheckpointEvery time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Chain seals events into a hash chain and writes them to its sinks. It
// implements broker.AuditSink and is safe for concurrent use. Records are
// written by one writer at a time, which assigns the order: a caller that
// finds the chain idle writes its own record at once, with no hand-off to
// another goroutine; callers that arrive meanwhile queue, and the chain's
// writer goroutine writes them in one batch (group commit). Each caller
// returns once its record is in every synchronous sink.
type Chain struct {
	id    string
	seal  *sealer
	sinks []*sinkState
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	idle    *sync.Cond // signalled when writing stops
	closed  bool
	writing bool       // someone is sealing and writing
	waiting []*pending // records queued for the writer goroutine
	kick    chan struct{}
	done    chan struct{}
	stop    chan struct{}
	workers sync.WaitGroup

	// Owned by whoever is writing.
	seq  uint64
	prev []byte

	cpMu sync.Mutex
	cp   Checkpoint // last record every sink holds
}

type pending struct {
	event []byte
	done  chan error
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan error, 1)} }}

// NewChain returns the chain named id (see ValidChainID), keyed with key
// (at least MinKeyBytes), writing to sinks. The chain resumes where it
// stopped: it reads the last record of id from every sink that is also a
// Source and continues after the newest; a sink found behind (a crash
// between two sinks' writes) is first given the records it lacks. Without
// any record, the chain starts at seq 1. NewChain fails if a sink cannot
// be read, rather than risk forking the chain.
func NewChain(ctx context.Context, id string, key []byte, sinks []Sink, opts Options) (*Chain, error) {
	if !ValidChainID(id) {
		return nil, fmt.Errorf("audit chain id %q: use 1 to 128 letters, digits, '.', '_' or '-'", id)
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	nsync := 0
	for _, sk := range sinks {
		if _, ok := sk.(asyncSink); !ok {
			nsync++
		}
	}
	if nsync == 0 {
		return nil, errors.New("audit chain has no synchronous sink")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 100000
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = 10000
	}
	if opts.AsyncInterval <= 0 {
		opts.AsyncInterval = 2 * time.Millisecond
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Chain{
		id: id, seal: s, opts: opts, log: opts.Logger,
		kick: make(chan struct{}, 1),
		done: make(chan struct{}),
		stop: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.idle = sync.NewCond(&c.mu)
	for _, sk := range sinks {
		c.sinks = append(c.sinks, newSinkState(sk))
	}
	if err := c.resume(ctx); err != nil {
		return nil, err
	}
	go c.run()
	for _, st := range c.sinks {
		if st.async {
			c.workers.Go(func() { st.follow(c, c.stop) })
			st.kick <- struct{}{} // it may have records to catch up
		}
	}
	if opts.CheckpointEvery > 0 {
		c.workers.Go(c.logCheckpoints)
	}
	return c, nil
}

// resume sets the head of the chain from the sinks that can be read.
func (c *Chain) resume(ctx context.Context) error {
	heads := make([]uint64, len(c.sinks))
	var head Record
	for i, st := range c.sinks {
		src, ok := st.sink.(Source)
		if !ok {
			continue
		}
		last, err := since(ctx, src, c.id, 0, 1)
		if err != nil {
			return fmt.Errorf("read the head of audit chain %s: %w", c.id, err)
		}
		if len(last) == 1 {
			heads[i] = last[0].Seq
			if last[0].Seq > head.Seq {
				head = last[0]
			}
		}
	}
	c.prev = make([]byte, len(genesis)/2)
	if head.Seq == 0 {
		c.log.Info("audit chain starts", "chain", c.id)
		return nil
	}
	prev, err := hex.DecodeString(head.Hash)
	if err != nil || len(prev) != len(c.prev) {
		return fmt.Errorf("audit chain %s: the last record, seq %d, has a malformed hash", c.id, head.Seq)
	}
	c.seq, c.prev = head.Seq, prev
	c.cp = head.Checkpoint(c.opts.Now())
	var ahead Source
	for i, st := range c.sinks {
		if heads[i] == head.Seq {
			ahead, _ = st.sink.(Source)
			break
		}
	}
	for i, st := range c.sinks {
		if _, ok := st.sink.(Source); !ok || heads[i] == head.Seq {
			continue
		}
		missing, err := since(ctx, ahead, c.id, heads[i], c.opts.Backlog)
		if err != nil {
			return fmt.Errorf("read audit chain %s to catch up a sink: %w", c.id, err)
		}
		if len(missing) > 0 && missing[0].Seq != heads[i]+1 {
			c.log.Warn("audit sink too far behind: it will show a gap", "chain", c.id, "sink_head", heads[i], "head", head.Seq)
		}
		c.log.Warn("audit sink behind the chain: writing the records it lacks", "chain", c.id, "sink_head", heads[i], "head", head.Seq)
		st.backlog = missing
	}
	c.log.Info("audit chain resumes", "chain", c.id, "seq", head.Seq)
	return nil
}

// since returns the records of chain after seq after, oldest first: at
// most max, the newest ones. Malformed records are passed over.
func since(ctx context.Context, src Source, chain string, after uint64, max int) ([]Record, error) {
	var out []Record
	for r, err := range src.Backward(ctx) {
		var me *MalformedError
		if errors.As(err, &me) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Chain != chain {
			continue
		}
		if r.Seq <= after {
			break
		}
		out = append(out, r)
		if len(out) == max {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// ID returns the chain's id.
func (c *Chain) ID() string { return c.id }

// Record implements broker.AuditSink: it seals e into the chain and
// returns once every synchronous sink holds it. It returns the error of a
// sink that failed, or of an async one lagging by more than MaxLag (the
// record then stays in the chain and is written to that sink again),
// ErrClosed, or, while waiting behind another writer, ctx's error. Each
// write to a sink is bounded by WriteTimeout.
func (c *Chain) Record(ctx context.Context, e *broker.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.writing && len(c.waiting) == 0 {
		c.writing = true
		c.mu.Unlock()
		err := c.write(c.sealBatch([]*pending{{event: b}}))
		c.doneWriting()
		return err
	}
	p := pendingPool.Get().(*pending)
	p.event = b
	c.waiting = append(c.waiting, p)
	c.mu.Unlock()
	c.wake()
	select {
	case err := <-p.done:
		p.event = nil
		pendingPool.Put(p)
		return err
	case <-ctx.Done():
		// p.done is buffered: the writer never blocks on an abandoned p.
		return fmt.Errorf("write audit event: %w", ctx.Err())
	}
}

// wake wakes the writer goroutine.
func (c *Chain) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// doneWriting ends a turn of writing and wakes the writer goroutine if
// records queued meanwhile.
func (c *Chain) doneWriting() {
	c.mu.Lock()
	c.writing = false
	more := len(c.waiting) > 0
	c.idle.Broadcast()
	c.mu.Unlock()
	if more {
		c.wake()
	}
}

// run is the writer goroutine: it writes queued records in batches,
// whenever nobody else is writing.
func (c *Chain) run() {
	defer close(c.done)
	batch := make([]*pending, 0, c.opts.MaxBatch)
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		c.mu.Lock()
		if c.writing {
			c.mu.Unlock()
			continue // the writer wakes us when it is done
		}
		c.writing = true
		for len(c.waiting) > 0 {
			n := min(len(c.waiting), c.opts.MaxBatch)
			batch = append(batch[:0], c.waiting[:n]...)
			c.waiting = append(c.waiting[:0], c.waiting[n:]...)
			c.mu.Unlock()
			err := c.write(c.sealBatch(batch))
			for _, p := range batch {
				p.done <- err
			}
			c.mu.Lock()
		}
		c.writing = false
		c.idle.Broadcast()
		c.mu.Unlock()
	}
}

// Checkpoint returns the newest record that every synchronous sink holds.
func (c *Chain) Checkpoint() Checkpoint {
	c.cpMu.Lock()
	defer c.cpMu.Unlock()
	return c.cp
}

// Close writes what is queued, stops the writer and closes the sinks.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for c.writing || len(c.waiting) > 0 {
		if !c.writing {
			c.wake()
		}
		c.idle.Wait()
	}
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	c.workers.Wait()
	var errs []error
	for _, st := range c.sinks {
		st.mu.Lock()
		if len(st.backlog) > 0 {
			c.log.Error("audit sink closed with records it never accepted", "chain", c.id, "records", len(st.backlog), "err", st.failed)
		}
		st.mu.Unlock()
		errs = append(errs, st.sink.Close())
	}
	return errors.Join(errs...)
}

// Check implements broker.Checker, for readiness: it fails while a
// synchronous sink fails or an async one lags by more than MaxLag.
func (c *Chain) Check(context.Context) error {
	var errs []error
	for _, st := range c.sinks {
		if err := st.check(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sealBatch assigns the next sequence numbers to batch and chains it.
func (c *Chain) sealBatch(batch []*pending) []Record {
	recs := make([]Record, len(batch))
	for i, p := range batch {
		c.seq++
		h := c.seal.sum(c.id, c.seq, c.prev, p.event)
		recs[i] = Record{Chain: c.id, Seq: c.seq, Prev: hex.EncodeToString(c.prev), Hash: hex.EncodeToString(h), Event: p.event}
		c.prev = h
	}
	return recs
}

func (c *Chain) logCheckpoints() {
	t := time.NewTicker(c.opts.CheckpointEvery)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			cp := c.Checkpoint()
			if cp.Seq != last && cp.Seq != 0 {
				c.log.Info("audit checkpoint", "chain", cp.Chain, "seq", cp.Seq, "hash", cp.Hash, "time", cp.Time)
				last = cp.Seq
			}
		}
	}
}
