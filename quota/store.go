package quota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// Options configure a store. The zero value works.
type Options struct {
	// Global budgets cap all servers together, on top of each server's own
	// limits. Only their periods and amounts are used.
	Global []broker.Budget
	// HoldTTL is how long an unsettled reservation holds its amount before
	// it is charged in full (the broker may have paid the provider and
	// died); a late Settle still corrects that charge within another
	// HoldTTL. Settled ids are remembered as long, so that a replayed Settle
	// charges nothing more. Default 10 minutes.
	HoldTTL time.Duration
	// Retention is how long a period's usage is kept after the period ends,
	// for Usage's history. Default two years.
	Retention time.Duration
	// Location is the zone calendar periods are cut in. Default UTC.
	Location *time.Location
	// Now is the clock; replicas sharing a Redis are assumed NTP-synced.
	Now func() time.Time
	// Logger receives fail-open errors and late settlements. Default: discard.
	Logger *slog.Logger
	// FailOpen lets requests through, unmetered, when the store cannot be
	// reached, instead of refusing them. Each one is logged at error level
	// and counted (FailOpenCount). The memory store never fails.
	FailOpen bool
}

// Store holds and charges requests against per-server and global budgets
// and rate limits. NewMemory and NewRedis return one; both have the same
// semantics, because the same Store drives both and only the atomic steps
// against one server's books (a ledger) differ. It is safe for concurrent
// use and implements broker.Quota, broker.QuotaAdmin and broker.Checker.
type Store struct {
	led       ledger
	config    map[string]*limitsDoc
	none      *limitsDoc // for servers without configured limits
	global    *limitsDoc // nil without global budgets
	ttl       time.Duration
	retention time.Duration
	loc       *time.Location
	now       func() time.Time
	log       *slog.Logger
	failOpen  bool
	passed    atomic.Int64
	periods   atomic.Pointer[periodCache]
}

var (
	_ broker.Quota        = (*Store)(nil)
	_ broker.BatchSettler = (*Store)(nil)
	_ broker.QuotaAdmin   = (*Store)(nil)
	_ broker.Checker      = (*Store)(nil)
)

// limitsDoc is a ServerLimits with its JSON, which the Lua scripts read.
type limitsDoc struct {
	l    broker.ServerLimits
	json string
}

func newDoc(l broker.ServerLimits) *limitsDoc {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // ServerLimits always marshals
	}
	return &limitsDoc{l: l, json: string(b)}
}

func newStore(led ledger, config map[string]broker.ServerLimits, opts Options) *Store {
	s := &Store{
		led:       led,
		config:    make(map[string]*limitsDoc, len(config)),
		none:      newDoc(broker.ServerLimits{}),
		ttl:       opts.HoldTTL,
		retention: opts.Retention,
		loc:       opts.Location,
		now:       opts.Now,
		log:       opts.Logger,
		failOpen:  opts.FailOpen,
	}
	if s.ttl <= 0 {
		s.ttl = 10 * time.Minute
	}
	if s.retention <= 0 {
		s.retention = 2 * 366 * 24 * time.Hour
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for id, l := range config {
		if err := broker.ValidateLimits(l); err != nil {
			s.log.Error("invalid limits configured; reservations will fail", "server", id, "err", err)
		}
		s.config[id] = newDoc(l)
	}
	if len(opts.Global) > 0 {
		s.global = newDoc(broker.ServerLimits{Budgets: opts.Global})
		if err := broker.ValidateLimits(s.global.l); err != nil {
			s.log.Error("invalid global budgets; reservations will fail", "err", err)
		}
	}
	return s
}

// globalTag names the global budget's books. Server tags never start with
// '#' (see serverTag), so it cannot collide with one.
const globalTag = "#global"

// serverTag names a server's books. It is the server id itself, or a hash
// of it when the id could break a Redis hash tag or collide with globalTag.
func serverTag(server string) string {
	if server != "" && !strings.ContainsAny(server, "{}") && !strings.HasPrefix(server, "#") {
		return server
	}
	sum := sha256.Sum256([]byte(server))
	return "#" + hex.EncodeToString(sum[:16])
}

// Reserve implements broker.Quota. Against global budgets, it first holds
// the amount globally, then against the server; if the server refuses, the
// global hold is released. So spent+held never exceeds any budget at any
// instant, but a concurrent request may be refused by a global hold that is
// then released. If the store fails mid-step (a timeout), a hold it may
// have recorded is charged in full when it expires.
func (s *Store) Reserve(ctx context.Context, r broker.Reservation) error {
	if r.ID == "" || r.MicroUSD < 0 || r.Tokens < 0 {
		return broker.Errorf(broker.ReasonInternal, "invalid reservation")
	}
	now := s.now()
	o := s.op(now, r.ID, r.Charge)
	if s.global != nil {
		o.limits = s.global
		v, err := s.led.reserve(ctx, globalTag, &o)
		if err != nil {
			return s.unreachable(ctx, r, fmt.Errorf("reserve %s against the global budget: %w", r.ID, err))
		}
		if v.code != admitted {
			return v.err("global")
		}
	}
	o.limits = s.limits(r.Server)
	v, err := s.led.reserve(ctx, serverTag(r.Server), &o)
	if err == nil && v.code == admitted {
		return nil
	}
	if s.global != nil {
		s.compensate(ctx, r.ID, now)
	}
	if err != nil {
		return s.unreachable(ctx, r, fmt.Errorf("reserve %s for server %s: %w", r.ID, r.Server, err))
	}
	return v.err("server's")
}

// unreachable fails closed with err, or lets the request through when the
// store is configured to fail open.
func (s *Store) unreachable(ctx context.Context, r broker.Reservation, err error) error {
	if !s.failOpen || ctx.Err() != nil {
		return err
	}
	n := s.passed.Add(1)
	s.log.Error("quota store unreachable: request let through unmetered (fail-open)",
		"request_id", r.ID, "server", r.Server, "fail_open_total", n, "err", err)
	return nil
}

// compensate releases the global hold of a request the server refused.
func (s *Store) compensate(ctx context.Context, id string, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	o := s.op(now, id, broker.Charge{})
	if _, err := s.led.release(ctx, globalTag, &o); err != nil {
		s.log.Warn("release global hold; it is charged in full when it expires", "request_id", id, "hold_ttl", s.ttl, "err", err)
	}
}

// FailOpenCount is how many steps let a request through unmetered or
// uncharged because the store could not be reached while failing open: a
// reservation and then its settlement may both count.
func (s *Store) FailOpenCount() int64 { return s.passed.Load() }

// Settle implements broker.Quota. Any replica may settle a reservation:
// the books are found by r.Server. A hold that expired before settlement
// was charged in full; its charge is corrected to actual. A settlement
// with no hold at all (forgotten, or reserved while failing open) is
// charged to the current periods, and logged: the provider was paid. When
// the store cannot be reached, it returns the error, or, failing open,
// logs and counts the uncharged request and returns nil.
func (s *Store) Settle(ctx context.Context, r broker.Reservation, actual broker.Charge) error {
	return s.SettleBatch(ctx, []broker.Settlement{{Reservation: r, Actual: actual}})[0]
}

// SettleBatch implements broker.BatchSettler: the settlements' steps go to
// the store together, in one round trip with Redis.
func (s *Store) SettleBatch(ctx context.Context, ss []broker.Settlement) []error {
	errs := make([]error, len(ss))
	now := s.now()
	n := 1 // steps per settlement: the server's book, and the global one
	if s.global != nil {
		n = 2
	}
	steps := n * len(ss)
	tags, ops := make([]string, 0, steps), make([]*op, 0, steps)
	opv := make([]op, len(ss))
	for i, x := range ss {
		if x.ID == "" || x.Actual.MicroUSD < 0 || x.Actual.Tokens < 0 {
			errs[i] = broker.Errorf(broker.ReasonInternal, "invalid charge")
			continue
		}
		opv[i] = s.op(now, x.ID, x.Actual)
		tags, ops = append(tags, serverTag(x.Server)), append(ops, &opv[i])
		if s.global != nil {
			tags, ops = append(tags, globalTag), append(ops, &opv[i])
		}
	}
	res, rerrs := s.led.settle(ctx, tags, ops)
	k := 0
	for i, x := range ss {
		if errs[i] != nil {
			continue
		}
		var err error
		if rerrs[k] != nil {
			err = fmt.Errorf("settle %s for server %s: %w", x.ID, x.Server, rerrs[k])
		} else if n == 2 && rerrs[k+1] != nil {
			err = fmt.Errorf("settle %s against the global budget: %w", x.ID, rerrs[k+1])
		}
		if err != nil {
			errs[i] = s.unsettled(ctx, x.Reservation, err)
		} else {
			s.logSettled(x.Reservation, res[k])
		}
		k += n
	}
	return errs
}

// logSettled logs the settlements that found no live hold.
func (s *Store) logSettled(r broker.Reservation, res int) {
	switch res {
	case settledLate:
		s.log.Warn("reservation expired before it was settled; its full charge was corrected",
			"request_id", r.ID, "server", r.Server, "hold_ttl", s.ttl)
	case settledExpired:
		s.log.Warn("settled a request with no hold; charged to the current periods",
			"request_id", r.ID, "server", r.Server, "hold_ttl", s.ttl)
	}
}

// unsettled returns err, or, when the store fails open, logs that the
// request goes uncharged and counts it.
func (s *Store) unsettled(ctx context.Context, r broker.Reservation, err error) error {
	if !s.failOpen || ctx.Err() != nil {
		return err
	}
	n := s.passed.Add(1)
	s.log.Error("quota store unreachable: request let through uncharged (fail-open)",
		"request_id", r.ID, "server", r.Server, "fail_open_total", n, "err", err)
	return nil
}

// Release implements broker.Quota. Releasing an unknown, settled or
// released reservation does nothing; releasing an expired one takes back
// its full charge. When the store cannot be reached, the hold stays and is
// charged in full when it expires; failing open, that is logged and nil
// returned.
func (s *Store) Release(ctx context.Context, r broker.Reservation) error {
	o := s.op(s.now(), r.ID, broker.Charge{})
	_, err := s.led.release(ctx, serverTag(r.Server), &o)
	if err != nil {
		err = fmt.Errorf("release %s for server %s: %w", r.ID, r.Server, err)
	} else if s.global != nil {
		if _, err = s.led.release(ctx, globalTag, &o); err != nil {
			err = fmt.Errorf("release %s against the global budget: %w", r.ID, err)
		}
	}
	if err != nil && s.failOpen && ctx.Err() == nil {
		s.log.Warn("quota store unreachable: hold not released (fail-open)", "request_id", r.ID, "server", r.Server, "err", err)
		return nil
	}
	return err
}

// op describes one step at now, with the current periods.
func (s *Store) op(now time.Time, id string, c broker.Charge) op {
	o := op{now: micros(now), ttl: s.ttl.Microseconds(), id: id, amount: c}
	for i, p := range s.current(now) {
		o.periods[i] = periodRef{id: p.ID}
		if !p.End.IsZero() {
			o.periods[i].keep = p.End.Add(s.retention).Sub(now).Microseconds()
		}
	}
	return o
}

// current returns the periods holding now. They change only at midnight,
// so they are computed once and reused until one of them ends.
func (s *Store) current(now time.Time) *[len(periodNames)]period {
	if c := s.periods.Load(); c != nil && !now.Before(c.from) && now.Before(c.until) {
		return &c.ps
	}
	c := &periodCache{}
	for i, name := range periodNames {
		c.ps[i], _ = periodAt(name, now, s.loc)
		if p := c.ps[i]; !p.End.IsZero() {
			if c.from.IsZero() || p.Start.After(c.from) {
				c.from = p.Start
			}
			if c.until.IsZero() || p.End.Before(c.until) {
				c.until = p.End
			}
		}
	}
	s.periods.Store(c)
	return &c.ps
}

// periodCache holds the current periods, valid from from until until.
type periodCache struct {
	from, until time.Time
	ps          [len(periodNames)]period
}

func (s *Store) limits(server string) *limitsDoc {
	if d, ok := s.config[server]; ok {
		return d
	}
	return s.none
}

// Limits implements broker.QuotaAdmin.
func (s *Store) Limits(ctx context.Context, server string) (broker.ServerLimits, string, error) {
	l, ok, err := s.led.override(ctx, serverTag(server))
	if err != nil {
		return broker.ServerLimits{}, "", fmt.Errorf("read limits of %s: %w", server, err)
	}
	if ok {
		return l, "override", nil
	}
	return s.limits(server).l, "config", nil
}

// SetLimits implements broker.QuotaAdmin. Invalid limits are refused with
// ReasonInvalidRequest. The override applies to the next reservation, on
// every replica.
func (s *Store) SetLimits(ctx context.Context, server string, l broker.ServerLimits) error {
	if err := broker.ValidateLimits(l); err != nil {
		return broker.Errorf(broker.ReasonInvalidRequest, "%v", err)
	}
	if err := s.led.setOverride(ctx, serverTag(server), newDoc(l)); err != nil {
		return fmt.Errorf("set limits of %s: %w", server, err)
	}
	return nil
}

// DeleteLimits implements broker.QuotaAdmin.
func (s *Store) DeleteLimits(ctx context.Context, server string) error {
	if err := s.led.deleteOverride(ctx, serverTag(server)); err != nil {
		return fmt.Errorf("delete limits of %s: %w", server, err)
	}
	return nil
}

// Usage implements broker.QuotaAdmin. It reports every period, day, week,
// month and lifetime, whether or not it has a budget: the current one then
// up to history earlier ones, newest first. Requests counts settled
// requests. Remaining is nil for a period
// without a budget; in a budget capping only money or only tokens, the
// uncapped field of Remaining is -1.
func (s *Store) Usage(ctx context.Context, server string, history int) ([]broker.PeriodUsage, error) {
	l, _, err := s.Limits(ctx, server)
	if err != nil {
		return nil, err
	}
	u, err := s.usage(ctx, serverTag(server), l.Budgets, history)
	if err != nil {
		return nil, fmt.Errorf("read usage of %s: %w", server, err)
	}
	return u, nil
}

// GlobalUsage is Usage of all servers together, against the global budgets.
// It counts only while global budgets are configured.
func (s *Store) GlobalUsage(ctx context.Context, history int) ([]broker.PeriodUsage, error) {
	var budgets []broker.Budget
	if s.global != nil {
		budgets = s.global.l.Budgets
	}
	u, err := s.usage(ctx, globalTag, budgets, history)
	if err != nil {
		return nil, fmt.Errorf("read global usage: %w", err)
	}
	return u, nil
}

func (s *Store) usage(ctx context.Context, tag string, budgets []broker.Budget, history int) ([]broker.PeriodUsage, error) {
	now := s.now()
	history = min(max(history, 0), 1000)
	var ps []period
	for _, name := range periodNames {
		h, err := periodHistory(name, now, s.loc, history)
		if err != nil {
			return nil, err
		}
		ps = append(ps, h...)
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	cs, err := s.led.usage(ctx, tag, micros(now), s.ttl.Microseconds(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]broker.PeriodUsage, len(ps))
	for i, p := range ps {
		c := cs[i]
		out[i] = broker.PeriodUsage{Period: p.Name, Start: p.Start, End: p.End, Spent: c.spent, Reserved: c.held, Requests: c.requests}
		for _, b := range budgets {
			if b.Period != p.Name || (b.MicroUSD <= 0 && b.Tokens <= 0) {
				continue
			}
			out[i].Remaining = &broker.Charge{
				MicroUSD: remaining(b.MicroUSD, c.spent.MicroUSD+c.held.MicroUSD),
				Tokens:   remaining(b.Tokens, c.spent.Tokens+c.held.Tokens),
			}
			break
		}
	}
	return out, nil
}

func remaining(limit, used int64) int64 {
	if limit <= 0 {
		return -1
	}
	return max(limit-used, 0)
}

// Check implements broker.Checker: it reports whether the store can be
// reached.
func (s *Store) Check(ctx context.Context) error { return s.led.check(ctx) }

func micros(t time.Time) int64 { return t.UnixMicro() }
