package quota

import (
	"container/heap"
	"context"

	"github.com/airlock-broker/airlock/broker"
)

// ledger runs the atomic steps against one book: a server's, or the global
// budget's (globalTag). Each method is one atomic step. The memory ledger
// runs them under a mutex, the Redis ledger as Lua scripts; they must
// agree exactly, and the shared test suite checks that they do.
//
// Errors mean the store could not be reached; refusals are verdicts.
type ledger interface {
	// reserve purges expired holds (charging them in full) and, if o fits
	// every budget and rate limit in force (the book's override, else
	// o.limits), holds it in o's periods until o.now+o.ttl.
	reserve(ctx context.Context, tag string, o *op) (verdict, error)
	// settle runs, for each i, one atomic step on book tags[i]: it replaces
	// the hold of ops[i].id by ops[i].amount in the hold's periods
	// (correcting the full charge of an expired hold), or charges the
	// amount to the op's periods when there is no hold, and remembers the
	// id as settled until now+ttl. The steps may share one round trip.
	settle(ctx context.Context, tags []string, ops []*op) ([]int, []error)
	// release drops the hold of o.id (taking back the full charge of an
	// expired one) and remembers it as settled.
	release(ctx context.Context, tag string, o *op) (int, error)
	// usage returns the counters of the periods ids, after purging.
	usage(ctx context.Context, tag string, now, ttl int64, ids []string) ([]counters, error)
	override(ctx context.Context, tag string) (broker.ServerLimits, bool, error)
	setOverride(ctx context.Context, tag string, d *limitsDoc) error
	deleteOverride(ctx context.Context, tag string) error
	check(ctx context.Context) error
}

// op is one step. Times are microseconds since the epoch, durations
// microseconds.
type op struct {
	now, ttl int64
	id       string
	amount   broker.Charge // reserved, or actually used
	periods  [len(periodNames)]periodRef
	limits   *limitsDoc // reserve: the limits unless overridden
}

// periodRef is a current period: its id, and how long from now its
// counters must be kept (0: forever).
type periodRef struct {
	id   string
	keep int64
}

// counters are one period's usage.
type counters struct {
	spent, held broker.Charge
	requests    int64
}

// Results of settle and release.
const (
	settledNow     = 0 // the hold was replaced by the charge (released)
	settledBefore  = 1 // a replay: nothing changed
	settledExpired = 2 // settle: no hold, the charge was recorded anyway; release: nothing was held
	settledLate    = 3 // settle: the hold had expired and been charged in full; the charge was corrected
)

// Verdict codes of reserve.
const (
	admitted      = iota
	overBudget    // period names the budget
	rateLimited   // retry is in seconds, what is "requests" or "tokens"
	overTPM       // the request alone exceeds the tokens-per-minute limit
	duplicateID   // the id is held or was settled
	invalidLimits // a budget names an unknown period
)

type verdict struct {
	code   int
	period string
	retry  int
	what   string
}

// minute is the window of the rate limits, in microseconds.
const minute = 60_000_000

// err is v as the error Reserve returns; whose is "server's" or "global".
// The message names no amounts: other servers' usage must not leak.
func (v verdict) err(whose string) error {
	switch v.code {
	case admitted:
		return nil
	case overBudget:
		return broker.Errorf(broker.ReasonBudgetExceeded, "the worst-case cost of this request does not fit the %s %s budget", whose, v.period)
	case rateLimited:
		e := broker.Errorf(broker.ReasonRateLimited, "the %s %s-per-minute limit is reached", whose, v.what)
		e.RetryAfter = v.retry
		return e
	case overTPM:
		return broker.Errorf(broker.ReasonRateLimited, "the worst-case tokens of this request exceed the %s tokens-per-minute limit", whose)
	case duplicateID:
		return broker.Errorf(broker.ReasonInternal, "request id reserved twice")
	}
	return broker.Errorf(broker.ReasonInternal, "invalid budget configuration")
}

// ceilDiv is a/b rounded up, for positive a and b.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// gcra is the generic cell rate algorithm: each request advances the
// theoretical arrival time tat by its cost inc; it fits while tat stays
// within a minute of now. So a quiet server may spend a whole minute's
// allowance at once, then as fast as it is refilled. It returns the new
// tat and, when it does not fit, how long until it would (µs, > 0).
func gcra(tat, now, inc int64) (next, over int64) {
	next = max(tat, now) + inc
	return next, next - now - minute
}

// deadlines is a min-heap of ids by time, for expiring holds and settled
// ids in order. Entries can be stale; callers check.
type deadlines []deadline

type deadline struct {
	at int64
	id string
}

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].at < d[j].at }
func (d deadlines) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *deadlines) Push(x any)        { *d = append(*d, x.(deadline)) }
func (d *deadlines) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}

func (d *deadlines) push(at int64, id string) { heap.Push(d, deadline{at, id}) }

// popUntil removes and returns the ids due at or before now.
func (d *deadlines) popUntil(now int64) []string {
	var ids []string
	for len(*d) > 0 && (*d)[0].at <= now {
		ids = append(ids, heap.Pop(d).(deadline).id)
	}
	return ids
}
