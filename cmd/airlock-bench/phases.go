package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// writeHeapProfile writes what is live on the heap after a collection.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measureMemory holds o.concurrent requests open in the upstream, samples
// the broker's RSS while they are (and calls atPeak, if set), then lets
// them go.
func measureMemory(ctx context.Context, g *generator, up *upstream, pid int, base string, w *workload, o *options, m *Memory, atPeak func() error) error {
	m.Concurrent = o.concurrent
	up.hold()
	done := make(chan []sample, 1)
	go func() { done <- g.burst(ctx, w, o.concurrent, o.seed) }()
	deadline := time.Now().Add(30 * time.Second)
	for up.held.Load() < int64(o.concurrent) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	m.HeldInFlight = up.held.Load()
	m.HeldRuntime = runtimeGauges(ctx, base)
	if atPeak != nil {
		if err := atPeak(); err != nil {
			up.open()
			<-done
			return err
		}
	}
	for end := time.Now().Add(o.hold); ; {
		cur, _, err := rss(pid)
		if err != nil {
			up.open()
			<-done
			return err
		}
		m.ReachedMB = max(m.ReachedMB, round1(cur))
		if time.Now().After(end) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	up.open()
	for _, x := range <-done {
		if x.out == outOK {
			m.Served++
			continue
		}
		m.Errors++
		if m.ErrorExamples == nil {
			m.ErrorExamples = map[string]int{}
		}
		m.ErrorExamples[x.err]++
	}
	_, peak, _ := rss(pid)
	m.PeakMB = round1(peak)
	m.LoadAvg = loadAvg()
	pause(ctx, 2*time.Second)
	idle, _, _ := rss(pid)
	m.IdleAfterMB = round1(idle)
	return nil
}

// findMax raises the rate by o.stepFactor from o.startRate until a step's p99
// passes the limit, errors appear, or the broker cannot keep up.
func findMax(ctx context.Context, g *generator, w *workload, o *options, spec func(string, *workload, float64, float64, time.Duration) loadSpec, progress func(string, ...any)) *FindMax {
	fm := &FindMax{P99Limit: micros(o.p99Limit)}
	rate := o.startRate
	for step := 1; step <= 40 && rate <= o.maxRate && ctx.Err() == nil; step++ {
		progress("find-max step %d: %.0f/s for %s", step, rate, o.stepDuration)
		r := g.run(ctx, spec(fmt.Sprintf("step %d", step), w, rate, o.maxDirect, o.stepDuration))
		fm.Steps = append(fm.Steps, r)
		if fm.P99Limit == 0 {
			fm.P99Limit = 3 * r.Broker.P99
		}
		switch {
		case r.ErrorCount > 0:
			fm.StoppedBy = fmt.Sprintf("%d errors at %.0f/s", r.ErrorCount, rate)
		case r.Broker.P99 > fm.P99Limit:
			fm.StoppedBy = fmt.Sprintf("p99 %s ms over the limit at %.0f/s", ms(r.Broker.P99), rate)
		case r.Achieved < 0.95*rate:
			fm.StoppedBy = fmt.Sprintf("only %.0f answers/s at %.0f/s", r.Achieved, rate)
		}
		if fm.StoppedBy != "" {
			return fm
		}
		fm.Max = r.Achieved
		rate *= o.stepFactor
		pause(ctx, 2*time.Second)
	}
	fm.StoppedBy = "reached -max-rate"
	return fm
}

// soak runs s while sampling pid's RSS every interval.
func soak(ctx context.Context, g *generator, pid int, s loadSpec, every time.Duration) *Soak {
	out := &Soak{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if cur, _, err := rss(pid); err == nil {
				out.Samples = append(out.Samples, SoakSample{Seconds: round1(time.Since(start).Seconds()), MB: round1(cur)})
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	out.Run = g.run(ctx, s)
	close(stop)
	<-sampled
	soakSummary(out)
	return out
}

// measureAllocs counts what the process allocates per request on each
// path, sequentially; the broker's own share is the difference.
func measureAllocs(ctx context.Context, g *generator, w *workload, n int) (*Allocs, error) {
	count := func(path uint8) (allocs, kb float64, p50 float64, err error) {
		if _, err := g.sequential(ctx, path, w, 50); err != nil { // warm connections and pools
			return 0, 0, 0, err
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		lat, err := g.sequential(ctx, path, w, n)
		runtime.ReadMemStats(&m1)
		if err != nil {
			return 0, 0, 0, err
		}
		return float64(m1.Mallocs-m0.Mallocs) / float64(n), float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n) / 1024, summarize(lat).P50, nil
	}
	a := &Allocs{Requests: n}
	var err error
	if a.DirectPath, a.DirectPathKB, a.SequentialDP50, err = count(viaDirect); err != nil {
		return nil, err
	}
	if a.BrokerPath, a.BrokerPathKB, a.SequentialP50, err = count(viaBroker); err != nil {
		return nil, err
	}
	a.DirectPath, a.BrokerPath = round1(a.DirectPath), round1(a.BrokerPath)
	a.DirectPathKB, a.BrokerPathKB = round1(a.DirectPathKB), round1(a.BrokerPathKB)
	a.Broker, a.BrokerKB = round1(a.BrokerPath-a.DirectPath), round1(a.BrokerPathKB-a.DirectPathKB)
	return a, nil
}

// summarizeUsage shortens the admin API's usage answer to the day's
// requests, tokens and spend.
func summarizeUsage(raw string) string {
	var u struct {
		Periods []struct {
			Period string `json:"period"`
			Spent  struct {
				MicroUSD int64 `json:"microUSD"`
				Tokens   int64 `json:"tokens"`
			} `json:"spent"`
			Requests int64 `json:"requests"`
		} `json:"periods"`
	}
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return raw
	}
	var parts []string
	for _, p := range u.Periods {
		parts = append(parts, fmt.Sprintf("%s: %d requests, %d tokens, $%.2f", p.Period, p.Requests, p.Spent.Tokens, float64(p.Spent.MicroUSD)/1e6))
	}
	return strings.Join(parts, "; ")
}
