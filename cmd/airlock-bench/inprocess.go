package main

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
	"github.com/airlock-broker/airlock/providers"
	"github.com/airlock-broker/airlock/quota"
)

// startInProcess wires the same pipeline as `airlock serve` does for
// brokerConfig (OpenAI provider, Redis or memory budgets, default filters,
// exact token counting) in this process, with an audit sink that keeps
// each served request's stage timings. It exists to show where the time
// goes and what the broker allocates; latency and memory of the real
// program come from the subprocess.
func startInProcess(ctx context.Context, s setup, log *slog.Logger) (*target, error) {
	keys := providers.Keys{"env": &providers.Env{LookupEnv: func(k string) (string, bool) {
		return brokerUpstreamKey, k == "UPSTREAM_KEY"
	}}}
	prov, err := providers.NewOpenAI(providers.OpenAIConfig{
		Name: "up", BaseURL: s.upstreamURL + "/v1", KeyRef: "env:UPSTREAM_KEY", MaxRetries: 0,
	}, keys)
	if err != nil {
		return nil, err
	}
	limits := map[string]broker.ServerLimits{benchID: {Budgets: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 1_000_000 * 1_000_000}}}}
	qopts := quota.Options{Logger: log, HoldTTL: s.holdTTL}
	var store *quota.Store
	var rdb *redis.Client
	if s.redis != "" {
		rdb = redis.NewClient(&redis.Options{Addr: s.redis})
		store = quota.NewRedis(rdb, limits, quota.RedisOptions{Options: qopts, Prefix: s.prefix})
	} else {
		store = quota.NewMemory(limits, qopts)
	}
	models := []broker.Model{{Name: "gpt-bench", Provider: "up", Upstream: upstreamModel, InputPrice: 1_000_000, OutputPrice: 2_000_000}}
	tok, err := providers.NewTokenizer(providers.TokenizerOptions{Preload: providers.EncodingsOf(models)})
	if err != nil {
		return nil, err
	}
	sink := &stageSink{}
	b, err := broker.New(
		[]*broker.Server{{
			ID:          benchID,
			TokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte(benchToken))},
			Policy:      broker.Policy{Models: []string{"gpt-bench"}, MaxTokens: 1024},
		}},
		models,
		map[string]broker.Provider{"up": prov},
		broker.Options{
			Quota:    store,
			Counter:  tok,
			Scanner:  filters.New(filters.Options{Logger: log}),
			Audit:    sink,
			Logger:   log,
			Checkers: map[string]broker.Checker{"redis": store},
		})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: b.Handler(broker.HTTPOptions{
			MaxInFlight: 1024,
			Admin:       broker.AdminOptions{TokenHashes: [][sha256.Size]byte{sha256.Sum256([]byte(adminToken))}, Quota: store},
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Goroutines inherit profiler labels: -cpuprofile can tell the
	// broker's connections and requests (-tagfocus role=broker) from the
	// generator's and the upstream's.
	go pprof.Do(context.Background(), pprof.Labels("role", "broker"), func(context.Context) { srv.Serve(ln) })
	t := &target{URL: "http://" + ln.Addr().String(), Kind: "in-process", sink: sink}
	t.stop = func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if rdb != nil {
			rdb.Close()
		}
		return err
	}
	if err := waitOK(ctx, t.URL+"/readyz", 10*time.Second); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// stageSink is an audit sink that keeps the stage timings of served
// requests while recording is on.
type stageSink struct {
	recording atomic.Bool
	mu        sync.Mutex
	events    []stageTimes
}

type stageTimes struct {
	stages broker.StageTimes
	total  time.Duration
}

func (s *stageSink) Record(_ context.Context, e *broker.Event) error {
	if !s.recording.Load() || e.Decision != broker.DecisionServed {
		return nil
	}
	st := stageTimes{stages: e.Stages, total: time.Duration(e.TotalMicros) * time.Microsecond}
	s.mu.Lock()
	s.events = append(s.events, st)
	s.mu.Unlock()
	return nil
}

// start clears what was recorded and records from now on.
func (s *stageSink) start() {
	s.mu.Lock()
	s.events = s.events[:0]
	s.mu.Unlock()
	s.recording.Store(true)
}

// stop ends recording and summarizes it: each stage, then the time in
// the handler outside the stages (authentication, reading and decoding
// the body), and the handler's total. brokerMean is the mean latency the
// client saw, which adds the HTTP exchange and the loopback hop.
func (s *stageSink) stop(brokerMean float64) *Stages {
	s.recording.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return nil
	}
	out := &Stages{Source: "audit events of served requests, in process", Count: len(s.events)}
	col := make([]time.Duration, len(s.events))
	summary := func(name string, f func(stageTimes) time.Duration) float64 {
		var sum time.Duration
		for i, e := range s.events {
			col[i] = f(e)
			sum += col[i]
		}
		slices.Sort(col)
		mean := float64(sum) / float64(len(col)) / 1e3
		out.Stages = append(out.Stages, Stage{
			Name: name, Mean: math.Round(mean*10) / 10,
			P50: micros(percentile(col, 50)), P99: micros(percentile(col, 99)),
		})
		return mean
	}
	for i, name := range broker.StageNames {
		summary(name, func(e stageTimes) time.Duration { return e.stages[i] })
	}
	summary("before the pipeline (auth, read, decode)", func(e stageTimes) time.Duration {
		d := e.total
		for _, x := range e.stages {
			d -= x
		}
		return max(d, 0)
	})
	total := summary("handler total (event arrival → audit)", func(e stageTimes) time.Duration { return e.total })
	if brokerMean > 0 {
		out.Stages = append(out.Stages, Stage{Name: "outside the handler (HTTP, loopback, client)", Mean: math.Round((brokerMean-total)*10) / 10})
	}
	return out
}
