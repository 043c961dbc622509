package quota

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// Limit is a server's budget. A zero field is unlimited.
type Limit struct {
	MicroUSD int64
	Tokens   int64
}

// MemoryOptions configure a Memory store. The zero value works.
type MemoryOptions struct {
	// HoldTTL is how long an unsettled reservation holds its amount before
	// it returns to the budget (the request died). Default 10 minutes.
	HoldTTL time.Duration
	Now     func() time.Time
}

// Memory is an in-process quota store: budgets are exact within one
// process and lost at exit. It is safe for concurrent use.
type Memory struct {
	limits map[string]Limit
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	spent   map[string]broker.Charge // settled, per server
	held    map[string]broker.Charge // reserved and not settled, per server
	holds   map[string]hold          // by request id
	settled map[string]time.Time     // request ids settled or released, for idempotency
	swept   time.Time
}

type hold struct {
	server  string
	amount  broker.Charge
	expires time.Time
}

var _ broker.Quota = (*Memory)(nil)

// NewMemory returns a store enforcing limits by server id. Servers without
// an entry are unlimited but still metered.
func NewMemory(limits map[string]Limit, opts MemoryOptions) *Memory {
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Memory{
		limits:  limits,
		ttl:     opts.HoldTTL,
		now:     opts.Now,
		spent:   map[string]broker.Charge{},
		held:    map[string]broker.Charge{},
		holds:   map[string]hold{},
		settled: map[string]time.Time{},
	}
}

// Reserve implements broker.Quota.
func (m *Memory) Reserve(_ context.Context, r broker.Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expire(now)
	if _, dup := m.holds[r.ID]; dup {
		return fmt.Errorf("reservation %s already held", r.ID)
	}
	lim := m.limits[r.Server]
	spent, held := m.spent[r.Server], m.held[r.Server]
	if over(lim.MicroUSD, spent.MicroUSD+held.MicroUSD, r.MicroUSD) || over(lim.Tokens, spent.Tokens+held.Tokens, r.Tokens) {
		return broker.Errorf(broker.ReasonBudgetExceeded, "the worst-case cost of this request does not fit the remaining budget")
	}
	m.holds[r.ID] = hold{server: r.Server, amount: r.Charge, expires: now.Add(m.ttl)}
	m.held[r.Server] = add(held, r.Charge, 1)
	return nil
}

func over(limit, used, want int64) bool { return limit > 0 && used+want > limit }

func add(a, b broker.Charge, sign int64) broker.Charge {
	return broker.Charge{MicroUSD: a.MicroUSD + sign*b.MicroUSD, Tokens: a.Tokens + sign*b.Tokens}
}

// Settle implements broker.Quota.
func (m *Memory) Settle(_ context.Context, id string, actual broker.Charge) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, done := m.settled[id]; done {
		return nil
	}
	h, ok := m.holds[id]
	if !ok {
		return fmt.Errorf("settle %s: no reservation held (expired?)", id)
	}
	m.drop(id, h)
	m.spent[h.server] = add(m.spent[h.server], actual, 1)
	return nil
}

// Release implements broker.Quota.
func (m *Memory) Release(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.holds[id]; ok {
		m.drop(id, h)
	}
	return nil
}

// Usage returns what server has spent and holds.
func (m *Memory) Usage(server string) (spent, held broker.Charge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.now())
	return m.spent[server], m.held[server]
}

func (m *Memory) drop(id string, h hold) {
	delete(m.holds, id)
	m.held[h.server] = add(m.held[h.server], h.amount, -1)
	m.settled[id] = h.expires
}

// expire returns expired holds to their budgets and forgets settled ids
// once no replay could matter. It sweeps at most once a second, so that a
// reservation costs O(1) however many are in flight.
func (m *Memory) expire(now time.Time) {
	if now.Sub(m.swept) < time.Second {
		return
	}
	m.swept = now
	for id, h := range m.holds {
		if now.After(h.expires) {
			m.drop(id, h)
		}
	}
	for id, t := range m.settled {
		if now.After(t.Add(m.ttl)) {
			delete(m.settled, id)
		}
	}
}
