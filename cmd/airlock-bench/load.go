package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Which path a request took.
const (
	viaBroker = iota
	viaDirect
)

// Outcomes of a request.
const (
	outOK      = iota
	outRefused // the broker refused an injection, as it should
	outError
)

// sample is one request of a run. Times are offsets from the run's start.
type sample struct {
	path  uint8
	class class
	out   uint8
	sched time.Duration // when it was due
	lag   time.Duration // how late it was sent
	lat   time.Duration // from due to the last byte of the answer
	end   time.Duration
	err   string
}

// generator sends requests to the broker and, as the baseline, the
// equivalent requests straight to the upstream.
type generator struct {
	brokerURL string
	directURL string
	broker    *http.Client
	direct    *http.Client
	up        *upstream
	// maxOutstanding bounds the requests in flight; a request due while
	// that many are outstanding is not sent and counts as an error.
	maxOutstanding int64
	outstanding    atomic.Int64
}

func newClient() *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// loadSpec is one open-loop run.
type loadSpec struct {
	name        string
	w           *workload
	rate        float64 // broker requests per second
	directRatio float64 // direct requests per broker request
	warmup      time.Duration
	duration    time.Duration
	injections  float64 // fraction of prompts with an injection
	sensitive   float64 // fraction of prompts with secrets and personal data
	seed        uint64
	// atWindow, if set, is called when the measured window begins, and
	// atEnd when every request has finished.
	atWindow func()
	atEnd    func(brokerMean float64, r *Run)
}

// run sends requests at fixed times, whatever the answers: each request
// is due at start + i/rate and its latency counts from then, so that a
// stalled broker cannot hold back the load that measures it (no
// coordinated omission). Broker and direct requests interleave, half an
// interval apart.
func (g *generator) run(ctx context.Context, s loadSpec) Run {
	total := s.warmup + s.duration
	nb := int(s.rate * total.Seconds())
	nd := int(s.rate * s.directRatio * total.Seconds())
	// Each request's goroutine writes its own element; the slice never
	// grows, so the pointers stay valid.
	samples := make([]sample, nb+nd)
	k := 0
	leaks0 := g.up.leaks.Load()

	bInt := time.Duration(float64(time.Second) / s.rate)
	var dInt time.Duration
	if nd > 0 {
		dInt = time.Duration(float64(time.Second) / (s.rate * s.directRatio))
	}
	rb := rand.New(rand.NewPCG(s.seed, 1))
	rd := rand.New(rand.NewPCG(s.seed, 2))

	start := time.Now().Add(50 * time.Millisecond)
	var window *time.Timer
	if s.atWindow != nil {
		window = time.AfterFunc(time.Until(start.Add(s.warmup)), s.atWindow)
	}
	var wg sync.WaitGroup
	paced := make(chan struct{})
	go pprof.Do(ctx, pprof.Labels("role", "generator"), func(ctx context.Context) {
		defer close(paced)
		var p pacer
		p.lock()
		ib, id := 0, 0
		for (ib < nb || id < nd) && ctx.Err() == nil {
			tb := time.Duration(ib) * bInt
			td := dInt/2 + time.Duration(id)*dInt
			smp := sample{path: viaBroker, sched: tb}
			var b *body
			if ib < nb && (id >= nd || tb <= td) {
				b = s.w.pick(rb, s.injections, s.sensitive)
				ib++
			} else {
				smp = sample{path: viaDirect, sched: td}
				b = s.w.pick(rd, s.injections, s.sensitive)
				id++
			}
			smp.class = b.class
			p.sleepUntil(start.Add(smp.sched))
			samples[k] = smp
			sp := &samples[k]
			k++
			if g.outstanding.Load() >= g.maxOutstanding {
				sp.out, sp.err = outError, fmt.Sprintf("generator: %d requests outstanding, not sent", g.maxOutstanding)
				continue
			}
			g.outstanding.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer g.outstanding.Add(-1)
				g.send(ctx, start, sp, b)
			}()
		}
	})
	<-paced
	wg.Wait()
	samples = samples[:k]
	if window != nil {
		window.Stop()
	}
	r := summarizeRun(s, samples)
	r.Leaks = g.up.leaks.Load() - leaks0
	r.LoadAvg = loadAvg()
	if s.atEnd != nil {
		s.atEnd(r.Broker.Mean, &r)
	}
	return r
}

// summarizeRun turns the samples of the measured window into a Run.
func summarizeRun(s loadSpec, samples []sample) Run {
	r := Run{
		Name: s.name, Size: s.w.size, PromptBytes: s.w.meanLen,
		Rate: s.rate, DirectRate: s.rate * s.directRatio, Seconds: s.duration.Seconds(),
	}
	var viaB, viaD, refused, lag []time.Duration
	var lastEnd time.Duration
	answered := 0
	for i := range samples {
		x := &samples[i]
		if x.sched < s.warmup {
			continue
		}
		if x.out == outError {
			if r.Errors == nil {
				r.Errors = map[string]int{}
			}
			r.Errors[x.err]++
			r.ErrorCount++
			continue
		}
		if x.path == viaDirect {
			if x.class != classInjection {
				viaD = append(viaD, x.lat)
			}
			continue
		}
		lag = append(lag, x.lag)
		answered++
		lastEnd = max(lastEnd, x.end)
		switch {
		case x.out == outRefused:
			refused = append(refused, x.lat)
		case x.class == classInjection:
			r.MissedInjections++
		default:
			viaB = append(viaB, x.lat)
			if x.class == classSensitive {
				r.Redacted++
			}
		}
	}
	r.Broker, r.Direct, r.Refused, r.Lag = summarize(viaB), summarize(viaD), summarize(refused), summarize(lag)
	r.Added = added(r.Broker, r.Direct)
	if span := lastEnd - s.warmup; answered > 0 && span > 0 {
		// Answers over the time from the window's start to the last answer:
		// below the rate when the broker falls behind.
		r.Achieved = math.Round(float64(answered)/max(span.Seconds(), s.duration.Seconds())*10) / 10
	}
	return r
}

// send does one request and records its outcome in x.
func (g *generator) send(ctx context.Context, start time.Time, x *sample, b *body) {
	due := start.Add(x.sched)
	var req *http.Request
	if x.path == viaBroker {
		req, _ = http.NewRequestWithContext(ctx, "POST", g.brokerURL, bytes.NewReader(b.broker))
		req.Header.Set("Authorization", "Bearer "+benchToken)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	} else {
		req, _ = http.NewRequestWithContext(ctx, "POST", g.directURL, bytes.NewReader(b.direct))
		req.Header.Set("Authorization", "Bearer "+directUpstreamKey)
	}
	req.Header.Set("Content-Type", "application/json")
	sent := time.Now()
	x.lag = sent.Sub(due)
	status, reason, err := do(g.client(x.path), req)
	now := time.Now()
	x.lat, x.end = now.Sub(due), now.Sub(start)
	x.out, x.err = classify(x.path, x.class, status, reason, err)
}

func (g *generator) client(path uint8) *http.Client {
	if path == viaBroker {
		return g.broker
	}
	return g.direct
}

// do sends req and reads the answer whole; for an error status it returns
// the error's stable reason.
func do(c *http.Client, req *http.Request) (status int, reason string, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, "", err
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var e struct {
		Error struct {
			Code any `json:"code"`
			Data struct {
				Reason string `json:"reason"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil {
		reason = e.Error.Data.Reason
		if reason == "" {
			reason = fmt.Sprint(e.Error.Code)
		}
	}
	return resp.StatusCode, reason, nil
}

// classify decides what an answer means for a request of class c.
func classify(path uint8, c class, status int, reason string, err error) (uint8, string) {
	name := "broker"
	if path == viaDirect {
		name = "direct"
	}
	switch {
	case err != nil:
		msg := err.Error()
		// Keep the cause, drop addresses and ports that vary per request.
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return outError, name + ": " + msg
	case status == http.StatusOK:
		return outOK, ""
	case path == viaBroker && c == classInjection && reason == "injection_detected":
		return outRefused, ""
	default:
		return outError, fmt.Sprintf("%s: status %d %s", name, status, reason)
	}
}

// burst sends n requests through the broker at once (plain and sensitive
// prompts, so that every one reaches the upstream) and waits for all.
func (g *generator) burst(ctx context.Context, w *workload, n int, seed uint64) []sample {
	r := rand.New(rand.NewPCG(seed, 3))
	samples := make([]sample, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range samples {
		b := w.pick(r, 0, 0.1)
		samples[i] = sample{path: viaBroker, class: b.class}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.send(ctx, start, &samples[i], b)
		}()
	}
	wg.Wait()
	return samples
}

// sequential sends n requests one after another on one path, plain
// prompts only, and returns their latencies.
func (g *generator) sequential(ctx context.Context, path uint8, w *workload, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	pool := w.bodies[classPlain]
	for i := range n {
		x := sample{path: path, class: classPlain}
		start := time.Now()
		g.send(ctx, start, &x, &pool[i%len(pool)])
		if x.out != outOK {
			return nil, fmt.Errorf("sequential request %d: %s", i, x.err)
		}
		out = append(out, x.lat)
	}
	return out, nil
}
