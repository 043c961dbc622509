package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
)

// newStoreFunc builds a fresh, empty store of one kind for a test.
type newStoreFunc func(t *testing.T, cfg map[string]broker.ServerLimits, opts Options) *Store

// clock is an injected clock tests advance instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// t0 is a Tuesday morning, UTC.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func usd(n int64) broker.Charge { return broker.Charge{MicroUSD: n} }

func resv(id, server string, c broker.Charge) broker.Reservation {
	return broker.Reservation{ID: id, Server: server, Model: "m", Charge: c}
}

// held names a reservation to settle or release.
func held(id, server string) broker.Reservation { return broker.Reservation{ID: id, Server: server} }

func day(usd, tokens int64) broker.ServerLimits {
	return broker.ServerLimits{Budgets: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: usd, Tokens: tokens}}}
}

// current returns server's usage in the current period called name.
func current(t *testing.T, s *Store, server, name string) broker.PeriodUsage {
	t.Helper()
	u, err := s.Usage(context.Background(), server, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range u {
		if p.Period == name {
			return p
		}
	}
	t.Fatalf("no %s period in %+v", name, u)
	return broker.PeriodUsage{}
}

func wantReason(t *testing.T, err error, want broker.Reason) *broker.Error {
	t.Helper()
	var e *broker.Error
	if !errors.As(err, &e) || e.Reason != want {
		t.Fatalf("got error %v, want reason %s", err, want)
	}
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testStore is the suite both stores must pass, so that they agree.
func testStore(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("ReserveSettleRelease", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": day(100, 0)}, Options{Now: clk.Now})
		must(t, s.Reserve(ctx, resv("a", "s", usd(60))))
		err := s.Reserve(ctx, resv("b", "s", usd(60)))
		e := wantReason(t, err, broker.ReasonBudgetExceeded)
		if e.Msg != "the worst-case cost of this request does not fit the server's day budget" {
			t.Errorf("message %q", e.Msg)
		}
		if got := current(t, s, "s", "day"); got.Reserved != usd(60) || got.Spent != usd(0) {
			t.Errorf("after one hold: %+v", got)
		}
		must(t, s.Settle(ctx, held("a", "s"), usd(20)))
		must(t, s.Settle(ctx, held("a", "s"), usd(20))) // replayed: charges nothing more
		must(t, s.Settle(ctx, held("a", "s"), usd(99)))
		got := current(t, s, "s", "day")
		if got.Spent != usd(20) || got.Reserved != usd(0) || got.Requests != 1 {
			t.Errorf("after settling (replayed): %+v, want 20 spent in 1 request and nothing held", got)
		}
		must(t, s.Reserve(ctx, resv("b", "s", usd(80))))
		must(t, s.Release(ctx, held("b", "s")))
		must(t, s.Release(ctx, held("b", "s")))
		must(t, s.Release(ctx, held("never-held", "s")))
		if got := current(t, s, "s", "day"); got.Reserved != usd(0) || got.Spent != usd(20) {
			t.Errorf("after release: %+v", got)
		}
		must(t, s.Settle(ctx, held("b", "s"), usd(5))) // released: settling it is a no-op
		if got := current(t, s, "s", "day"); got.Spent != usd(20) {
			t.Errorf("settling a released hold charged it: %+v", got)
		}
		// No hold at all (reserved while failing open, or long forgotten):
		// the provider was paid, so it is charged.
		must(t, s.Settle(ctx, held("unknown", "s"), usd(5)))
		if got := current(t, s, "s", "day"); got.Spent != usd(25) || got.Requests != 2 {
			t.Errorf("settling with no hold: %+v, want 25 spent in 2 requests", got)
		}
	})

	t.Run("SettleBatch", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": day(1000, 0), "t": day(1000, 0)}, Options{
			Now: clk.Now, Global: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 10_000}},
		})
		must(t, s.Reserve(ctx, resv("a", "s", usd(100))))
		must(t, s.Reserve(ctx, resv("b", "t", usd(100))))
		must(t, s.Reserve(ctx, resv("c", "s", usd(100))))
		must(t, s.Settle(ctx, held("c", "s"), usd(5)))
		errs := s.SettleBatch(ctx, []broker.Settlement{
			{Reservation: held("a", "s"), Actual: usd(10)},
			{Reservation: held("b", "t"), Actual: usd(20)},
			{Reservation: held("c", "s"), Actual: usd(99)},      // a replay: nothing more
			{Reservation: held("x", "t"), Actual: usd(-1)},      // invalid
			{Reservation: held("nohold", "t"), Actual: usd(30)}, // charged all the same
		})
		if len(errs) != 5 || errs[0] != nil || errs[1] != nil || errs[2] != nil || errs[4] != nil {
			t.Fatalf("errors %v", errs)
		}
		wantReason(t, errs[3], broker.ReasonInternal)
		if got := current(t, s, "s", "day"); got.Spent != usd(15) || got.Reserved != usd(0) || got.Requests != 2 {
			t.Errorf("s after the batch: %+v", got)
		}
		if got := current(t, s, "t", "day"); got.Spent != usd(50) || got.Reserved != usd(0) || got.Requests != 2 {
			t.Errorf("t after the batch: %+v", got)
		}
		g, err := s.GlobalUsage(ctx, 0)
		must(t, err)
		if g[0].Spent != usd(65) || g[0].Reserved != usd(0) {
			t.Errorf("global after the batch: %+v", g[0])
		}
	})

	t.Run("InvalidRequests", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{
			"bad": {Budgets: []broker.Budget{{Period: "fortnight", MicroUSD: 1}}},
		}, Options{})
		must(t, s.Reserve(ctx, resv("a", "s", usd(1))))
		wantReason(t, s.Reserve(ctx, resv("a", "s", usd(1))), broker.ReasonInternal)
		wantReason(t, s.Reserve(ctx, resv("", "s", usd(1))), broker.ReasonInternal)
		wantReason(t, s.Reserve(ctx, resv("neg", "s", usd(-1))), broker.ReasonInternal)
		wantReason(t, s.Reserve(ctx, resv("b", "bad", usd(1))), broker.ReasonInternal)
		wantReason(t, s.Settle(ctx, held("a", "s"), usd(-1)), broker.ReasonInternal)
	})

	t.Run("HoldExpiry", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": day(100, 0)}, Options{Now: clk.Now, HoldTTL: time.Minute})
		must(t, s.Reserve(ctx, resv("dead", "s", usd(80))))
		clk.Add(59 * time.Second)
		wantReason(t, s.Reserve(ctx, resv("early", "s", usd(80))), broker.ReasonBudgetExceeded)
		clk.Add(time.Second)
		// Never settled: the broker may have paid the provider and died, so
		// the hold is charged in full.
		if got := current(t, s, "s", "day"); got.Reserved != usd(0) || got.Spent != usd(80) || got.Requests != 1 {
			t.Errorf("expired hold: %+v, want 80 spent in 1 request, nothing held", got)
		}
		wantReason(t, s.Reserve(ctx, resv("next", "s", usd(80))), broker.ReasonBudgetExceeded)
		// A late settlement corrects the charge to what was used.
		must(t, s.Settle(ctx, held("dead", "s"), usd(30)))
		if got := current(t, s, "s", "day"); got.Spent != usd(30) || got.Reserved != usd(0) || got.Requests != 1 {
			t.Errorf("after a late settlement: %+v, want 30 spent in 1 request", got)
		}
		must(t, s.Reserve(ctx, resv("next", "s", usd(70))))
		must(t, s.Settle(ctx, held("dead", "s"), usd(30)))
		if got := current(t, s, "s", "day"); got.Spent != usd(30) {
			t.Errorf("late settlement replayed: %+v", got)
		}

		// A late release takes the full charge back.
		must(t, s.Reserve(ctx, resv("gone", "s", usd(0))))
		must(t, s.Release(ctx, held("next", "s")))
		must(t, s.Reserve(ctx, resv("slow", "s", usd(50))))
		clk.Add(time.Minute)
		if got := current(t, s, "s", "day"); got.Spent != usd(80) || got.Requests != 3 {
			t.Errorf("second expiry: %+v, want 80 spent in 3 requests", got)
		}
		must(t, s.Release(ctx, held("slow", "s")))
		if got := current(t, s, "s", "day"); got.Spent != usd(30) || got.Requests != 2 {
			t.Errorf("after a late release: %+v, want 30 spent in 2 requests", got)
		}

		// Past a second HoldTTL the expired record is forgotten but the id
		// stays settled: a very late settlement charges nothing twice.
		clk.Add(2 * time.Minute)
		must(t, s.Settle(ctx, held("gone", "s"), usd(0)))
		if got := current(t, s, "s", "day"); got.Spent != usd(30) || got.Requests != 2 {
			t.Errorf("after the record was forgotten: %+v", got)
		}
	})

	t.Run("PeriodsRollOver", func(t *testing.T) {
		clk := newClock()
		lim := broker.ServerLimits{Budgets: []broker.Budget{
			{Period: broker.PeriodDay, MicroUSD: 100},
			{Period: broker.PeriodLifetime, MicroUSD: 250},
		}}
		s := newStore(t, map[string]broker.ServerLimits{"s": lim}, Options{Now: clk.Now})
		spend := func(id string, n int64) error {
			if err := s.Reserve(ctx, resv(id, "s", usd(n))); err != nil {
				return err
			}
			return s.Settle(ctx, held(id, "s"), usd(n))
		}
		must(t, spend("d1", 100))
		wantReason(t, spend("d1-more", 1), broker.ReasonBudgetExceeded)
		clk.Add(14 * time.Hour) // 00:00 the next day
		must(t, spend("d2", 100))
		clk.Add(24 * time.Hour)
		must(t, spend("d3", 50))
		e := wantReason(t, spend("d3-more", 1), broker.ReasonBudgetExceeded)
		if e.Msg != "the worst-case cost of this request does not fit the server's lifetime budget" {
			t.Errorf("message %q", e.Msg)
		}
		clk.Add(400 * 24 * time.Hour)
		wantReason(t, spend("much-later", 1), broker.ReasonBudgetExceeded)
	})

	t.Run("WeekAndMonthInAZone", func(t *testing.T) {
		clk := newClock()
		tokyo := mustZone(t, "Asia/Tokyo")
		lim := broker.ServerLimits{Budgets: []broker.Budget{
			{Period: broker.PeriodWeek, MicroUSD: 100},
			{Period: broker.PeriodMonth, MicroUSD: 150},
		}}
		s := newStore(t, map[string]broker.ServerLimits{"s": lim}, Options{Now: clk.Now, Location: tokyo})
		clk.Add(time.Date(2026, 11, 29, 14, 59, 0, 0, time.UTC).Sub(t0)) // Sunday 23:59 in Tokyo
		must(t, s.Reserve(ctx, resv("w48", "s", usd(100))))
		wantReason(t, s.Reserve(ctx, resv("w48-more", "s", usd(1))), broker.ReasonBudgetExceeded)
		clk.Add(time.Minute) // Monday 00:00 in Tokyo, still Sunday in UTC
		must(t, s.Reserve(ctx, resv("w49", "s", usd(50))))
		e := wantReason(t, s.Reserve(ctx, resv("w49-more", "s", usd(1))), broker.ReasonBudgetExceeded)
		if e.Msg != "the worst-case cost of this request does not fit the server's month budget" {
			t.Errorf("message %q", e.Msg)
		}
		clk.Add(24 * time.Hour) // December 1st in Tokyo
		must(t, s.Reserve(ctx, resv("dec", "s", usd(50))))
	})

	t.Run("TokenBudgets", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{"s": day(0, 1000)}, Options{})
		must(t, s.Reserve(ctx, resv("a", "s", broker.Charge{MicroUSD: 1 << 40, Tokens: 600})))
		wantReason(t, s.Reserve(ctx, resv("b", "s", broker.Charge{Tokens: 500})), broker.ReasonBudgetExceeded)
		must(t, s.Settle(ctx, held("a", "s"), broker.Charge{MicroUSD: 7, Tokens: 300}))
		must(t, s.Reserve(ctx, resv("b", "s", broker.Charge{Tokens: 700})))
		got := current(t, s, "s", "day")
		want := broker.Charge{MicroUSD: -1, Tokens: 0}
		if got.Remaining == nil || *got.Remaining != want {
			t.Errorf("remaining %+v, want %+v (-1: no money budget)", got.Remaining, want)
		}
	})

	t.Run("GlobalBudget", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{"small": day(20, 0)}, Options{
			Global: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 100}},
		})
		must(t, s.Reserve(ctx, resv("a1", "a", usd(60))))
		e := wantReason(t, s.Reserve(ctx, resv("b1", "b", usd(60))), broker.ReasonBudgetExceeded)
		if e.Msg != "the worst-case cost of this request does not fit the global day budget" {
			t.Errorf("message %q", e.Msg)
		}
		must(t, s.Settle(ctx, held("a1", "a"), usd(10)))
		must(t, s.Reserve(ctx, resv("b1", "b", usd(60))))
		// The server refuses: the global hold taken first is given back.
		e = wantReason(t, s.Reserve(ctx, resv("s1", "small", usd(25))), broker.ReasonBudgetExceeded)
		if e.Msg != "the worst-case cost of this request does not fit the server's day budget" {
			t.Errorf("message %q", e.Msg)
		}
		must(t, s.Reserve(ctx, resv("c1", "c", usd(30))))
		wantReason(t, s.Reserve(ctx, resv("c2", "c", usd(1))), broker.ReasonBudgetExceeded)
		must(t, s.Release(ctx, held("b1", "b")))
		must(t, s.Reserve(ctx, resv("c2", "c", usd(60))))
		g, err := s.GlobalUsage(ctx, 0)
		must(t, err)
		if g[0].Period != "day" || g[0].Spent != usd(10) || g[0].Reserved != usd(90) || *g[0].Remaining != (broker.Charge{MicroUSD: 0, Tokens: -1}) {
			t.Errorf("global usage %+v", g[0])
		}
		if got := current(t, s, "b", "day"); got.Reserved != usd(0) || got.Spent != usd(0) {
			t.Errorf("b after release: %+v", got)
		}
	})

	t.Run("RequestsPerMinute", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": {RequestsPerMinute: 3}}, Options{Now: clk.Now})
		for i := range 3 {
			id := fmt.Sprint("r", i)
			must(t, s.Reserve(ctx, resv(id, "s", usd(1))))
			must(t, s.Release(ctx, held(id, "s"))) // a released request still counts
		}
		e := wantReason(t, s.Reserve(ctx, resv("r3", "s", usd(1))), broker.ReasonRateLimited)
		if e.RetryAfter != 20 {
			t.Errorf("Retry-After %d, want 20", e.RetryAfter)
		}
		clk.Add(19 * time.Second)
		e = wantReason(t, s.Reserve(ctx, resv("r3", "s", usd(1))), broker.ReasonRateLimited)
		if e.RetryAfter != 1 {
			t.Errorf("Retry-After %d, want 1", e.RetryAfter)
		}
		clk.Add(time.Second)
		must(t, s.Reserve(ctx, resv("r3", "s", usd(1))))
		wantReason(t, s.Reserve(ctx, resv("r4", "s", usd(1))), broker.ReasonRateLimited)
		clk.Add(time.Minute) // a quiet minute refills the whole allowance
		for i := range 3 {
			must(t, s.Reserve(ctx, resv(fmt.Sprint("q", i), "s", usd(1))))
		}
	})

	t.Run("TokensPerMinute", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": {TokensPerMinute: 1000}}, Options{Now: clk.Now})
		tok := func(n int64) broker.Charge { return broker.Charge{Tokens: n} }
		must(t, s.Reserve(ctx, resv("a", "s", tok(600))))
		e := wantReason(t, s.Reserve(ctx, resv("b", "s", tok(600))), broker.ReasonRateLimited)
		if e.RetryAfter != 12 {
			t.Errorf("Retry-After %d, want 12", e.RetryAfter)
		}
		// Settling 100 of the 600 gives back the unused allowance.
		must(t, s.Settle(ctx, held("a", "s"), tok(100)))
		must(t, s.Reserve(ctx, resv("b", "s", tok(600))))
		wantReason(t, s.Reserve(ctx, resv("c", "s", tok(600))), broker.ReasonRateLimited)
		must(t, s.Release(ctx, held("b", "s")))
		must(t, s.Reserve(ctx, resv("c", "s", tok(600))))
		e = wantReason(t, s.Reserve(ctx, resv("huge", "s", tok(1001))), broker.ReasonRateLimited)
		if e.RetryAfter != 0 {
			t.Errorf("a request that can never fit said retry after %d s", e.RetryAfter)
		}
	})

	t.Run("BudgetBeforeRate", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{"s": {
			Budgets: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 10}}, RequestsPerMinute: 1,
		}}, Options{})
		must(t, s.Reserve(ctx, resv("a", "s", usd(10))))
		// Over both: the budget is what retrying cannot fix.
		wantReason(t, s.Reserve(ctx, resv("b", "s", usd(10))), broker.ReasonBudgetExceeded)
		// A refused request did not consume the rate.
		must(t, s.Release(ctx, held("a", "s")))
		e := wantReason(t, s.Reserve(ctx, resv("c", "s", usd(1))), broker.ReasonRateLimited)
		if e.RetryAfter != 60 {
			t.Errorf("Retry-After %d, want 60: the refused request took some rate", e.RetryAfter)
		}
	})

	t.Run("Overrides", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{"s": day(100, 0)}, Options{})
		l, src, err := s.Limits(ctx, "s")
		must(t, err)
		if diff := cmp.Diff(day(100, 0), l); diff != "" || src != "config" {
			t.Errorf("limits from %s (-want +got):\n%s", src, diff)
		}
		over := broker.ServerLimits{Budgets: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 10}}, RequestsPerMinute: 60}
		must(t, s.SetLimits(ctx, "s", over))
		l, src, err = s.Limits(ctx, "s")
		must(t, err)
		if diff := cmp.Diff(over, l); diff != "" || src != "override" {
			t.Errorf("limits from %s (-want +got):\n%s", src, diff)
		}
		wantReason(t, s.Reserve(ctx, resv("a", "s", usd(50))), broker.ReasonBudgetExceeded)
		if got := current(t, s, "s", "day"); *got.Remaining != (broker.Charge{MicroUSD: 10, Tokens: -1}) {
			t.Errorf("remaining under the override: %+v", *got.Remaining)
		}
		must(t, s.DeleteLimits(ctx, "s"))
		must(t, s.DeleteLimits(ctx, "s"))
		if _, src, _ := s.Limits(ctx, "s"); src != "config" {
			t.Errorf("after delete, limits from %s", src)
		}
		must(t, s.Reserve(ctx, resv("a", "s", usd(50))))
		// An override applies to servers without configured limits too.
		must(t, s.SetLimits(ctx, "new", day(5, 0)))
		wantReason(t, s.Reserve(ctx, resv("n", "new", usd(6))), broker.ReasonBudgetExceeded)
		bad := broker.ServerLimits{Budgets: []broker.Budget{{Period: "fortnight", MicroUSD: 1}}}
		wantReason(t, s.SetLimits(ctx, "s", bad), broker.ReasonInvalidRequest)
	})

	t.Run("OddServerIDs", func(t *testing.T) {
		ids := []string{"{x}", "a}b", "#global", "", "émoji 🙂", "x:y"}
		cfg := map[string]broker.ServerLimits{}
		for _, id := range ids {
			cfg[id] = day(10, 0)
		}
		s := newStore(t, cfg, Options{Global: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 1000}}})
		for i, id := range ids {
			must(t, s.Reserve(ctx, resv(fmt.Sprint(i), id, usd(10))))
			wantReason(t, s.Reserve(ctx, resv(fmt.Sprint(i, "more"), id, usd(1))), broker.ReasonBudgetExceeded)
		}
		g, err := s.GlobalUsage(ctx, 0)
		must(t, err)
		if g[0].Reserved != usd(10*int64(len(ids))) {
			t.Errorf("global holds %+v", g[0].Reserved)
		}
	})

	t.Run("UsageHistory", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, map[string]broker.ServerLimits{"s": day(100, 0)}, Options{Now: clk.Now})
		must(t, s.Reserve(ctx, resv("a", "s", broker.Charge{MicroUSD: 40, Tokens: 400})))
		must(t, s.Settle(ctx, held("a", "s"), broker.Charge{MicroUSD: 30, Tokens: 300}))
		clk.Add(24 * time.Hour)
		must(t, s.Reserve(ctx, resv("b", "s", broker.Charge{MicroUSD: 20, Tokens: 200})))
		must(t, s.Settle(ctx, held("b", "s"), broker.Charge{MicroUSD: 20, Tokens: 200}))
		must(t, s.Reserve(ctx, resv("c", "s", broker.Charge{MicroUSD: 10, Tokens: 100})))

		got, err := s.Usage(ctx, "s", 2)
		must(t, err)
		d := func(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }
		c := func(u, t int64) broker.Charge { return broker.Charge{MicroUSD: u, Tokens: t} }
		rem := func(u int64) *broker.Charge { return &broker.Charge{MicroUSD: u, Tokens: -1} }
		want := []broker.PeriodUsage{
			{Period: "day", Start: d(2026, 11, 25), End: d(2026, 11, 26), Spent: c(20, 200), Reserved: c(10, 100), Remaining: rem(70), Requests: 1},
			{Period: "day", Start: d(2026, 11, 24), End: d(2026, 11, 25), Spent: c(30, 300), Remaining: rem(70), Requests: 1},
			{Period: "day", Start: d(2026, 11, 23), End: d(2026, 11, 24), Remaining: rem(100)},
			{Period: "week", Start: d(2026, 11, 23), End: d(2026, 11, 30), Spent: c(50, 500), Reserved: c(10, 100), Requests: 2},
			{Period: "week", Start: d(2026, 11, 16), End: d(2026, 11, 23)},
			{Period: "week", Start: d(2026, 11, 9), End: d(2026, 11, 16)},
			{Period: "month", Start: d(2026, 11, 1), End: d(2026, 12, 1), Spent: c(50, 500), Reserved: c(10, 100), Requests: 2},
			{Period: "month", Start: d(2026, 10, 1), End: d(2026, 11, 1)},
			{Period: "month", Start: d(2026, 9, 1), End: d(2026, 10, 1)},
			{Period: "lifetime", Spent: c(50, 500), Reserved: c(10, 100), Requests: 2},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Usage (-want +got):\n%s", diff)
		}
		other, err := s.Usage(ctx, "other", 0)
		must(t, err)
		for _, p := range other {
			if p.Spent != (broker.Charge{}) || p.Reserved != (broker.Charge{}) || p.Remaining != nil {
				t.Errorf("a server never seen: %+v", p)
			}
		}
	})

	t.Run("ExactUnderConcurrency", func(t *testing.T) {
		s := newStore(t, map[string]broker.ServerLimits{"s": day(k*cost, 0)}, Options{})
		exactlyK(t, []*Store{s}, "s")
	})

	t.Run("GlobalExactUnderConcurrency", func(t *testing.T) {
		s := newStore(t, nil, Options{Global: []broker.Budget{{Period: broker.PeriodMonth, MicroUSD: k * cost}}})
		var servers []string
		for i := range 5 {
			servers = append(servers, fmt.Sprint("srv", i))
		}
		exactlyK(t, []*Store{s}, servers...)
		g, err := s.GlobalUsage(ctx, 0)
		must(t, err)
		if g[0].Period != "day" || g[0].Spent != usd(k*cost) || g[0].Reserved != usd(0) {
			t.Errorf("global usage %+v", g[0])
		}
	})
}

// k reservations of cost fit the budgets of the concurrency tests.
const (
	n    = 1000
	k    = 37
	cost = 10
)

// exactlyK races n reservations, spread over stores and servers, against
// budgets that fit exactly k: exactly k must succeed, and what is spent
// and held must never exceed the budget while they race.
func exactlyK(t *testing.T, stores []*Store, servers ...string) {
	t.Helper()
	ctx := context.Background()
	var ok atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // watch the budget while the reservations race
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Per server, spent+held only grows here (every hold is
			// settled in full), so a sum of snapshots bounds the truth.
			var used int64
			for _, srv := range servers {
				u, err := stores[0].Usage(ctx, srv, 0)
				if err != nil {
					t.Error(err)
					return
				}
				lifetime := u[len(u)-1]
				used += lifetime.Spent.MicroUSD + lifetime.Reserved.MicroUSD
			}
			if used > k*cost {
				t.Errorf("spent+held %d exceeds the budget %d", used, k*cost)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%len(stores)]
			id := fmt.Sprint("req-", i)
			err := s.Reserve(ctx, resv(id, servers[i%len(servers)], usd(cost)))
			switch broker.ErrorReason(err) {
			case "":
				ok.Add(1)
				if err := s.Settle(ctx, held(id, servers[i%len(servers)]), usd(cost)); err != nil {
					t.Error(err)
				}
			case broker.ReasonBudgetExceeded:
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	var spent int64
	for _, srv := range servers {
		spent += current(t, stores[0], srv, "lifetime").Spent.MicroUSD
	}
	if ok.Load() != k || spent != k*cost {
		t.Errorf("admitted %d spending %d, want exactly %d spending %d", ok.Load(), spent, k, k*cost)
	}
}
