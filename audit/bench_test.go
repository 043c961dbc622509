package audit

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// BenchmarkRecord measures what Chain.Record adds to a request: encoding
// the event, sealing it and waiting until every synchronous sink holds it.
// It reports the p50 and p99 of single calls made one at a time
// ("serial"); from 16 goroutines each recording every 2ms, 8000 records a
// second, more than the whole broker serves on two cores ("loaded"); and
// from 16 goroutines recording back to back ("saturated", a stress figure
// where latency is queueing). "encode-only" is the floor: the same loops
// doing only json.Marshal of the event, which shows how much of a p99 is
// the machine rather than the chain.
//
//	go test ./audit -run '^$' -bench BenchmarkRecord -benchtime 20000x
func BenchmarkRecord(b *testing.B) {
	sinks := map[string]func(b *testing.B) []Sink{
		"encode-only": func(b *testing.B) []Sink { return nil },
		"file":        func(b *testing.B) []Sink { return []Sink{newFile(b, FileOptions{})} },
		"redis": func(b *testing.B) []Sink {
			c := redisClient(b)
			return []Sink{NewRedisStream(c, testStream(b, c), RedisOptions{MaxLen: 100_000})}
		},
		"file+redis": func(b *testing.B) []Sink {
			c := redisClient(b)
			return []Sink{newFile(b, FileOptions{}), NewRedisStream(c, testStream(b, c), RedisOptions{MaxLen: 100_000})}
		},
		"file+async-redis": func(b *testing.B) []Sink {
			c := redisClient(b)
			return []Sink{newFile(b, FileOptions{}), Async(NewRedisStream(c, testStream(b, c), RedisOptions{MaxLen: 100_000}))}
		},
	}
	for _, name := range []string{"encode-only", "file", "redis", "file+redis", "file+async-redis"} {
		for _, mode := range []string{"serial", "loaded", "saturated"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				record := func(e *broker.Event) error { _, err := json.Marshal(e); return err }
				if s := sinks[name](b); s != nil {
					c, err := NewChain(context.Background(), "bench", testKey, s, Options{})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					record = func(e *broker.Event) error { return c.Record(context.Background(), e) }
				}
				var (
					mu  sync.Mutex
					all []time.Duration
				)
				run := func(next func() bool, every time.Duration) {
					e := testEvent(1)
					var lat []time.Duration
					for next() {
						t := time.Now()
						if err := record(e); err != nil {
							b.Error(err)
							return
						}
						d := time.Since(t)
						lat = append(lat, d)
						if every > 0 {
							time.Sleep(every - d)
						}
					}
					mu.Lock()
					all = append(all, lat...)
					mu.Unlock()
				}
				b.ReportAllocs()
				b.ResetTimer()
				switch mode {
				case "serial":
					run(b.Loop, 0)
				case "loaded":
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) { run(pb.Next, 2*time.Millisecond) })
				case "saturated":
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) { run(pb.Next, 0) })
				}
				b.StopTimer()
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}
