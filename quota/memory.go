package quota

import (
	"context"
	"slices"
	"sync"

	"github.com/airlock-broker/airlock/broker"
)

// NewMemory returns a store that keeps its books in process: exact within
// one process, lost at exit. It is the embedded default. config holds each
// server's limits; servers without an entry are unlimited but metered.
func NewMemory(config map[string]broker.ServerLimits, opts Options) *Store {
	return newStore(&memLedger{books: map[string]*book{}}, config, opts)
}

// memLedger is the in-process ledger. Each method mirrors a Lua script of
// the Redis ledger, step for step.
type memLedger struct {
	mu    sync.Mutex
	books map[string]*book
}

var _ ledger = (*memLedger)(nil)

// book is one server's (or the global budget's) state: what the Redis
// ledger keeps under the keys of one hash tag.
type book struct {
	periods  map[string]*periodBook
	holds    map[string]*memHold
	expiries deadlines        // of holds
	done     map[string]int64 // settled ids, until when they are remembered
	doneq    deadlines
	rpm, tpm int64 // GCRA theoretical arrival times
	override *broker.ServerLimits
	swept    int64
}

type periodBook struct {
	counters
	expires int64 // when the counters may be dropped; 0: never
}

type memHold struct {
	amount  broker.Charge
	tinc    int64 // what it consumed of the tokens-per-minute allowance
	expires int64 // when it expires, or once expired, when it is forgotten
	expired bool  // charged in full, kept for a late settlement
	periods [len(periodNames)]string
}

func (m *memLedger) book(tag string) *book {
	b := m.books[tag]
	if b == nil {
		b = &book{periods: map[string]*periodBook{}, holds: map[string]*memHold{}, done: map[string]int64{}}
		m.books[tag] = b
	}
	return b
}

// purge charges holds expired at now in full and keeps them for a late
// settlement until now+ttl, then remembers them as settled; it forgets
// settled ids past their replay window when done is set (common.lua).
func (b *book) purge(now, ttl int64, done bool) {
	for _, id := range b.expiries.popUntil(now) {
		h, ok := b.holds[id]
		if !ok || h.expires > now {
			continue
		}
		if !h.expired {
			b.book(h.periods, h.amount, h.amount, 1)
			h.expired, h.expires = true, now+ttl
			b.expiries.push(h.expires, id)
			continue
		}
		delete(b.holds, id)
		b.remember(id, now+ttl)
	}
	if done {
		for _, id := range b.doneq.popUntil(now) {
			if t, ok := b.done[id]; ok && t <= now {
				delete(b.done, id)
			}
		}
	}
	// Counters past their retention go the way Redis expires them; an
	// hour's lag does not matter.
	if now-b.swept > 3600*1_000_000 {
		b.swept = now
		for id, p := range b.periods {
			if p.expires != 0 && p.expires <= now {
				delete(b.periods, id)
			}
		}
	}
}

// book adds spent to the counters of pids, takes held off them and adds n
// requests (common.lua).
func (b *book) book(pids [len(periodNames)]string, spent, held broker.Charge, n int64) {
	for _, pid := range pids {
		p := b.period(pid)
		p.spent = add(p.spent, spent)
		p.held = sub(p.held, held)
		p.requests += n
	}
}

// period returns the counters of pid, creating them (without expiry) as
// HINCRBY would.
func (b *book) period(pid string) *periodBook {
	p := b.periods[pid]
	if p == nil {
		p = &periodBook{}
		b.periods[pid] = p
	}
	return p
}

// touch creates pid's counters if need be and sets their expiry (PEXPIRE).
func (b *book) touch(now int64, ref periodRef) *periodBook {
	p := b.period(ref.id)
	if ref.keep > 0 {
		p.expires = now + ref.keep
	}
	return p
}

// reserve mirrors reserve.lua.
func (m *memLedger) reserve(_ context.Context, tag string, o *op) (verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.book(tag)
	b.purge(o.now, o.ttl, false)
	if _, held := b.holds[o.id]; held {
		return verdict{code: duplicateID}, nil
	}
	if _, done := b.done[o.id]; done {
		return verdict{code: duplicateID}, nil
	}
	lim := o.limits.l
	if b.override != nil {
		lim = *b.override
	}

	// Budgets: spent + held + wanted must fit each.
	for _, bud := range lim.Budgets {
		i := slices.Index(periodNames[:], bud.Period)
		if i < 0 {
			return verdict{code: invalidLimits}, nil
		}
		c := b.periods[o.periods[i].id]
		var used broker.Charge
		if c != nil {
			used = add(c.spent, c.held)
		}
		if (bud.MicroUSD > 0 && used.MicroUSD+o.amount.MicroUSD > bud.MicroUSD) ||
			(bud.Tokens > 0 && used.Tokens+o.amount.Tokens > bud.Tokens) {
			return verdict{code: overBudget, period: bud.Period}, nil
		}
	}

	// Rate limits.
	rtat, ttat := b.rpm, b.tpm
	var tinc, over int64
	what := "requests"
	if rpm := lim.RequestsPerMinute; rpm > 0 {
		rtat, over = gcra(b.rpm, o.now, ceilDiv(minute, rpm))
	}
	if tpm, tok := lim.TokensPerMinute, o.amount.Tokens; tpm > 0 && tok > 0 {
		if tok > tpm {
			return verdict{code: overTPM}, nil
		}
		tinc = ceilDiv(tok*minute, tpm)
		var o2 int64
		ttat, o2 = gcra(b.tpm, o.now, tinc)
		if o2 > over {
			over, what = o2, "tokens"
		}
	}
	if over > 0 {
		return verdict{code: rateLimited, retry: int(ceilDiv(over, 1_000_000)), what: what}, nil
	}

	// Hold.
	h := &memHold{amount: o.amount, tinc: tinc, expires: o.now + o.ttl}
	for i, ref := range o.periods {
		p := b.touch(o.now, ref)
		p.held = add(p.held, o.amount)
		h.periods[i] = ref.id
	}
	b.holds[o.id] = h
	b.expiries.push(h.expires, o.id)
	b.rpm, b.tpm = rtat, ttat
	return verdict{code: admitted}, nil
}

// settle runs settleOne for each step.
func (m *memLedger) settle(_ context.Context, tags []string, ops []*op) ([]int, []error) {
	res := make([]int, len(ops))
	for i, o := range ops {
		res[i] = m.settleOne(tags[i], o)
	}
	return res, make([]error, len(ops))
}

// settleOne mirrors settle.lua.
func (m *memLedger) settleOne(tag string, o *op) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.book(tag)
	b.purge(o.now, o.ttl, true)
	if _, done := b.done[o.id]; done {
		return settledBefore
	}
	res := settledNow
	switch h, ok := b.holds[o.id]; {
	case ok && !h.expired:
		delete(b.holds, o.id)
		if rt := h.amount.Tokens; rt > 0 && o.amount.Tokens < rt {
			b.refund(o.now, h.tinc*(rt-o.amount.Tokens)/rt)
		}
		b.book(h.periods, o.amount, h.amount, 1)
	case ok:
		delete(b.holds, o.id)
		res = settledLate
		b.book(h.periods, sub(o.amount, h.amount), broker.Charge{}, 0)
	default:
		res = settledExpired
		var pids [len(periodNames)]string
		for i, ref := range o.periods {
			b.touch(o.now, ref)
			pids[i] = ref.id
		}
		b.book(pids, o.amount, broker.Charge{}, 1)
	}
	b.remember(o.id, o.now+o.ttl)
	return res
}

// release mirrors release.lua.
func (m *memLedger) release(_ context.Context, tag string, o *op) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.book(tag)
	b.purge(o.now, o.ttl, true)
	if _, done := b.done[o.id]; done {
		return settledBefore, nil
	}
	h, ok := b.holds[o.id]
	if !ok {
		return settledExpired, nil
	}
	delete(b.holds, o.id)
	if h.expired {
		b.book(h.periods, sub(broker.Charge{}, h.amount), broker.Charge{}, -1)
	} else {
		b.book(h.periods, broker.Charge{}, h.amount, 0)
		b.refund(o.now, h.tinc)
	}
	b.remember(o.id, o.now+o.ttl)
	return settledNow, nil
}

func (b *book) remember(id string, until int64) {
	b.done[id] = until
	b.doneq.push(until, id)
}

// refund gives back part of the tokens-per-minute allowance a hold took.
func (b *book) refund(now, amount int64) {
	if amount > 0 && b.tpm > now {
		b.tpm = max(now, b.tpm-amount)
	}
}

// usage mirrors usage.lua.
func (m *memLedger) usage(_ context.Context, tag string, now, ttl int64, ids []string) ([]counters, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.book(tag)
	b.purge(now, ttl, true)
	out := make([]counters, len(ids))
	for i, id := range ids {
		if p, ok := b.periods[id]; ok && (p.expires == 0 || p.expires > now) {
			out[i] = p.counters
		}
	}
	return out, nil
}

func (m *memLedger) override(_ context.Context, tag string) (broker.ServerLimits, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.books[tag]; b != nil && b.override != nil {
		return clone(*b.override), true, nil
	}
	return broker.ServerLimits{}, false, nil
}

func (m *memLedger) setOverride(_ context.Context, tag string, d *limitsDoc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := clone(d.l)
	m.book(tag).override = &l
	return nil
}

func (m *memLedger) deleteOverride(_ context.Context, tag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.books[tag]; b != nil {
		b.override = nil
	}
	return nil
}

func (m *memLedger) check(context.Context) error { return nil }

func clone(l broker.ServerLimits) broker.ServerLimits {
	l.Budgets = slices.Clone(l.Budgets)
	return l
}

func add(a, b broker.Charge) broker.Charge {
	return broker.Charge{MicroUSD: a.MicroUSD + b.MicroUSD, Tokens: a.Tokens + b.Tokens}
}

func sub(a, b broker.Charge) broker.Charge {
	return broker.Charge{MicroUSD: a.MicroUSD - b.MicroUSD, Tokens: a.Tokens - b.Tokens}
}
