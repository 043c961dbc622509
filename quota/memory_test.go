package quota

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

func res(id string, usd int64) broker.Reservation {
	return broker.Reservation{ID: id, Server: "s", Charge: broker.Charge{MicroUSD: usd, Tokens: usd}}
}

func TestMemoryReserveSettleRelease(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(map[string]Limit{"s": {MicroUSD: 100}}, MemoryOptions{HoldTTL: time.Minute, Now: func() time.Time { return now }})

	if err := m.Reserve(ctx, res("a", 60)); err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(ctx, res("b", 60)); broker.ErrorReason(err) != broker.ReasonBudgetExceeded {
		t.Fatalf("second hold over budget: %v", err)
	}
	if err := m.Settle(ctx, "a", broker.Charge{MicroUSD: 20, Tokens: 20}); err != nil {
		t.Fatal(err)
	}
	if err := m.Settle(ctx, "a", broker.Charge{MicroUSD: 20, Tokens: 20}); err != nil {
		t.Fatal("replayed settle:", err)
	}
	if spent, held := m.Usage("s"); spent.MicroUSD != 20 || held.MicroUSD != 0 {
		t.Fatalf("after settle (replayed): spent %d held %d, want 20 and 0", spent.MicroUSD, held.MicroUSD)
	}
	if err := m.Reserve(ctx, res("b", 80)); err != nil {
		t.Fatal("80 fits after settling 20:", err)
	}
	if err := m.Release(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, held := m.Usage("s"); held.MicroUSD != 0 {
		t.Fatalf("held %d after release", held.MicroUSD)
	}

	// A hold never settled (the broker died) returns after its TTL.
	if err := m.Reserve(ctx, res("c", 80)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, held := m.Usage("s"); held.MicroUSD != 0 {
		t.Errorf("expired hold still held: %d", held.MicroUSD)
	}
	if err := m.Reserve(ctx, res("d", 80)); err != nil {
		t.Errorf("budget not returned after expiry: %v", err)
	}
}

// TestMemoryExactUnderConcurrency: a budget that fits exactly K holds admits
// exactly K of N concurrent reservations.
func TestMemoryExactUnderConcurrency(t *testing.T) {
	const n, k, cost = 1000, 37, 10
	m := NewMemory(map[string]Limit{"s": {MicroUSD: k * cost}}, MemoryOptions{})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint(i)
			if err := m.Reserve(context.Background(), res(id, cost)); err == nil {
				ok.Add(1)
				m.Settle(context.Background(), id, broker.Charge{MicroUSD: cost})
			}
		}()
	}
	wg.Wait()
	spent, _ := m.Usage("s")
	if ok.Load() != k || spent.MicroUSD != k*cost {
		t.Errorf("admitted %d spending %d, want exactly %d spending %d", ok.Load(), spent.MicroUSD, k, k*cost)
	}
}
