package quota

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

// BenchmarkReserveSettle measures reserve+settle round trips, one request
// each, sequentially and from 8×GOMAXPROCS goroutines (a broker waits on
// Redis, it does not spin), for each store; the
// global variants also hold against a global budget (two more scripts).
//
//	go test -run '^$' -bench ReserveSettle -benchtime 3s ./quota/
func BenchmarkReserveSettle(b *testing.B) {
	cfg := map[string]broker.ServerLimits{"s": {
		Budgets:           []broker.Budget{{Period: broker.PeriodDay, MicroUSD: math.MaxInt64 / 4}, {Period: broker.PeriodMonth, Tokens: math.MaxInt64 / 4}},
		RequestsPerMinute: math.MaxInt32, TokensPerMinute: math.MaxInt32,
	}}
	global := Options{Global: []broker.Budget{{Period: broker.PeriodMonth, MicroUSD: math.MaxInt64 / 4}}}
	stores := []struct {
		name string
		new  func(b *testing.B, opts Options) *Store
	}{
		{"memory", func(_ *testing.B, opts Options) *Store { return NewMemory(cfg, opts) }},
		{"redis", func(b *testing.B, opts Options) *Store {
			c := redisClient(b)
			return NewRedis(c, cfg, RedisOptions{Options: opts, Prefix: testPrefix(b, c)})
		}},
	}
	for _, st := range stores {
		for _, g := range []struct {
			name string
			opts Options
		}{{"", Options{}}, {"+global", global}} {
			b.Run(st.name+g.name+"/sequential", func(b *testing.B) {
				s := st.new(b, g.opts)
				ctx := context.Background()
				i := 0
				for b.Loop() {
					roundTrip(b, ctx, s, fmt.Sprint("seq-", i))
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
			})
			b.Run(st.name+g.name+"/parallel", func(b *testing.B) {
				s := st.new(b, g.opts)
				ctx := context.Background()
				var next atomic.Int64
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						roundTrip(b, ctx, s, fmt.Sprint("par-", next.Add(1)))
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "round-trips/s")
			})
		}
	}
}

func roundTrip(b *testing.B, ctx context.Context, s *Store, id string) {
	if err := s.Reserve(ctx, resv(id, "s", broker.Charge{MicroUSD: 5000, Tokens: 1200})); err != nil {
		b.Fatal(err)
	}
	if err := s.Settle(ctx, held(id, "s"), broker.Charge{MicroUSD: 1200, Tokens: 300}); err != nil {
		b.Fatal(err)
	}
}
