// Command airlock-bench is Airlock's load harness. It starts a
// zero-latency OpenAI-compatible upstream in this process and the broker
// (the airlock binary, with budgets in a real Redis) as a subprocess, then
// drives open-loop load at a fixed rate with realistic prompts, some with
// planted secrets and personal data, some with injections. In one run it
// reports:
//
//   - latency percentiles through the broker and, interleaved at the same
//     rate, straight to the upstream, and their difference;
//   - with -find-max, the highest rate whose p99 stays under a limit;
//   - with -memory, the broker's resident memory idle and while 1,000
//     requests are held open; with -soak, its memory over a long run;
//   - with -inprocess, the pipeline runs in this process instead, so that
//     each request's stage timings and the broker's allocations can be
//     read, and -cpuprofile profiles it.
//
// Only loopback addresses are used. Every loop is bounded in count and
// time. See BENCHMARKS.md for the figures and the commands behind them.
//
// Usage:
//
//	go run ./cmd/airlock-bench -rate 500 -duration 30s -size 2k
//	go run ./cmd/airlock-bench -find-max -memory -soak 2m
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "airlock-bench:", err)
		}
		os.Exit(2)
	}
}

// options are the parsed flags.
type options struct {
	airlock     string
	brokerEnv   []string
	holdTTL     time.Duration
	redis       string
	inprocess   bool
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	sizes       []string
	sensitive   float64
	injections  float64
	directRatio float64
	seed        uint64

	findMax      bool
	startRate    float64
	maxRate      float64
	stepFactor   float64
	stepDuration time.Duration
	p99Limit     time.Duration
	maxDirect    float64

	memory     bool
	audit      bool
	concurrent int
	hold       time.Duration

	soak        time.Duration
	soakRate    float64
	sampleEvery time.Duration

	allocs     int
	cpuprofile string
	memprofile string
	jsonOut    string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("airlock-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.airlock, "airlock", "", "airlock binary to test; default: go build ./cmd/airlock into a temporary directory")
	env := fs.String("broker-env", "", "Go runtime settings of the broker subprocess, e.g. GOMAXPROCS=1,GOMEMLIMIT=64MiB (GOGC, GOMEMLIMIT, GOMAXPROCS, GODEBUG)")
	fs.DurationVar(&o.holdTTL, "hold-ttl", 0, "the broker's quota.hold_ttl, how long it remembers a request; 0: its default (10m)")
	fs.StringVar(&o.redis, "redis", "127.0.0.1:6379", "Redis for budgets, loopback only (a unique key prefix, deleted afterwards); empty: in-memory budgets")
	fs.BoolVar(&o.inprocess, "inprocess", false, "run the pipeline in this process instead of the binary: adds stage timings, allocations per request and -cpuprofile")
	fs.Float64Var(&o.rate, "rate", 500, "broker requests per second of the fixed-rate runs (0: no fixed-rate run)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured length of each fixed-rate run (at most 10m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each run (at most 1m)")
	size := fs.String("size", "2k", "prompt sizes, comma-separated: 2k, 32k, 256k; one fixed-rate run each")
	fs.Float64Var(&o.sensitive, "secrets", 0.10, "fraction of prompts with planted fake secrets and personal data")
	fs.Float64Var(&o.injections, "injections", 0.05, "fraction of prompts with an injection, which the broker refuses")
	fs.Float64Var(&o.directRatio, "direct-ratio", 1, "direct requests to the upstream per broker request, interleaved (the baseline)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the prompt mix")

	fs.BoolVar(&o.findMax, "find-max", false, "raise the rate in steps until p99 degrades or errors appear")
	fs.Float64Var(&o.startRate, "find-max-start", 0, "first rate -find-max tries; default -rate")
	fs.Float64Var(&o.maxRate, "max-rate", 20000, "highest rate -find-max tries")
	fs.Float64Var(&o.stepFactor, "step", 1.25, "-find-max multiplies the rate by this each step")
	fs.DurationVar(&o.stepDuration, "step-duration", 10*time.Second, "measured length of each -find-max step (at most 2m)")
	fs.DurationVar(&o.p99Limit, "p99-limit", 0, "-find-max stops when the broker's p99 exceeds this; 0: 3× the first step's p99")
	fs.Float64Var(&o.maxDirect, "find-max-direct-ratio", 0.1, "direct requests per broker request during -find-max")

	fs.BoolVar(&o.audit, "audit", true, "give the broker subprocess an audit trail (a file sink in its temporary directory), as in production")
	fs.BoolVar(&o.memory, "memory", false, "measure the broker's RSS idle and with -concurrent requests held open at once")
	fs.IntVar(&o.concurrent, "concurrent", 1000, "requests held open together by -memory (at most 1024, the broker's max_in_flight)")
	fs.DurationVar(&o.hold, "hold", 2*time.Second, "how long -memory holds them once all are in flight (at most 20s)")

	fs.DurationVar(&o.soak, "soak", 0, "run this long at -soak-rate sampling the broker's RSS (at most 15m)")
	fs.Float64Var(&o.soakRate, "soak-rate", 0, "rate of the soak; default -rate")
	fs.DurationVar(&o.sampleEvery, "sample-every", 5*time.Second, "RSS sampling interval of -soak")

	fs.IntVar(&o.allocs, "allocs", 2000, "with -inprocess: sequential requests per path to count allocations (0: skip)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (with -inprocess it holds the broker) to the file")
	fs.StringVar(&o.memprofile, "memprofile", "", "write a heap profile of this process (with -inprocess it holds the broker) to the file after the runs, or with -memory while the requests are held")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file; - writes JSON to stdout instead of text")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.sizes = strings.Split(*size, ",")
	if *env != "" {
		o.brokerEnv = strings.Split(*env, ",")
	}
	if o.soakRate == 0 {
		o.soakRate = o.rate
	}
	if o.startRate == 0 {
		o.startRate = o.rate
	}
	return o, o.validate()
}

// validate reports every bad flag together.
func (o *options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.rate < 0 || o.rate > 20000 {
		bad("-rate must be from 0 to 20000")
	}
	if o.duration < time.Second || o.duration > 10*time.Minute {
		bad("-duration must be from 1s to 10m")
	}
	if o.warmup < 0 || o.warmup > time.Minute {
		bad("-warmup must be from 0 to 1m")
	}
	for _, s := range o.sizes {
		if _, ok := sizes[s]; !ok {
			bad("-size: unknown size %q (want 2k, 32k or 256k)", s)
		}
	}
	if o.sensitive < 0 || o.injections < 0 || o.sensitive+o.injections > 1 {
		bad("-secrets and -injections must be fractions that add up to at most 1")
	}
	if o.directRatio < 0 || o.directRatio > 4 || o.maxDirect < 0 || o.maxDirect > 4 {
		bad("-direct-ratio and -find-max-direct-ratio must be from 0 to 4")
	}
	if o.findMax {
		if o.startRate <= 0 || o.startRate > o.maxRate {
			bad("-find-max starts at -find-max-start (default -rate), which must be positive and at most -max-rate")
		}
		if o.maxRate > 50000 {
			bad("-max-rate must be at most 50000")
		}
		if o.stepFactor <= 1 || o.stepFactor > 4 {
			bad("-step must be above 1 and at most 4")
		}
		if o.stepDuration < time.Second || o.stepDuration > 2*time.Minute {
			bad("-step-duration must be from 1s to 2m")
		}
	}
	if o.concurrent < 1 || o.concurrent > 1024 {
		bad("-concurrent must be from 1 to 1024")
	}
	if o.hold < 0 || o.hold > 20*time.Second {
		bad("-hold must be from 0 to 20s")
	}
	if o.soak < 0 || o.soak > 15*time.Minute {
		bad("-soak must be at most 15m")
	}
	if o.soak > 0 && (o.soakRate <= 0 || o.soakRate > 20000) {
		bad("-soak-rate must be from 1 to 20000")
	}
	if o.holdTTL < 0 || o.holdTTL > time.Hour {
		bad("-hold-ttl must be from 0 to 1h")
	}
	if o.sampleEvery < time.Second {
		bad("-sample-every must be at least 1s")
	}
	if o.allocs < 0 || o.allocs > 100000 {
		bad("-allocs must be from 0 to 100000")
	}
	if o.inprocess && (o.soak > 0 || o.memory && o.memprofile == "") {
		bad("-memory and -soak measure the subprocess's memory: not with -inprocess, except -memory with -memprofile (a heap profile while the requests are held)")
	}
	if o.inprocess && (o.airlock != "" || len(o.brokerEnv) > 0) {
		bad("-airlock and -broker-env apply to the subprocess: not with -inprocess")
	}
	for _, kv := range o.brokerEnv {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG":
		default:
			bad("-broker-env: %q is not GOGC, GOMEMLIMIT, GOMAXPROCS or GODEBUG", k)
		}
	}
	if o.redis != "" {
		host, _, err := net.SplitHostPort(o.redis)
		ip := net.ParseIP(host)
		if err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			bad("-redis %q: only a loopback address may be used", o.redis)
		}
	}
	return errors.Join(errs...)
}

// run is the whole program; the test calls it as main does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "airlock-bench: "+format+"\n", a...) }

	rep := &Report{Command: "airlock-bench " + strings.Join(args, " "), Machine: machine()}
	workloads := map[string]*workload{}
	for _, s := range o.sizes {
		n := 32
		if s == "256k" {
			n = 8
		}
		if workloads[s], err = newWorkload(s, n, o.seed); err != nil {
			return err
		}
	}
	first := workloads[o.sizes[0]]

	tmp, err := os.MkdirTemp("", "airlock-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	up, err := startUpstream(log)
	if err != nil {
		return fmt.Errorf("start upstream: %w", err)
	}
	defer up.Close()

	var suffix [6]byte
	rand.Read(suffix[:])
	prefix := fmt.Sprintf("airlock-bench:%s:", hex.EncodeToString(suffix[:]))
	if o.redis != "" {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, derr := deletePrefix(cctx, o.redis, prefix)
			if derr != nil {
				err = errors.Join(err, fmt.Errorf("delete Redis keys under %s: %w", prefix, derr))
			} else {
				progress("deleted %d Redis keys under %s", n, prefix)
			}
		}()
	}

	st := setup{upstreamURL: up.URL, redis: o.redis, prefix: prefix, holdTTL: o.holdTTL, audit: o.audit, env: o.brokerEnv}
	var t *target
	if o.inprocess {
		progress("starting the pipeline in process")
		t, err = startInProcess(ctx, st, log)
	} else {
		bin := o.airlock
		if bin == "" {
			progress("building ./cmd/airlock")
			if bin, err = buildAirlock(ctx, tmp); err != nil {
				return err
			}
		}
		progress("starting %s", bin)
		t, err = startSubprocess(ctx, bin, tmp, st)
	}
	if err != nil {
		return err
	}
	defer func() {
		if serr := t.stop(); serr != nil && t.pid != 0 {
			err = errors.Join(err, fmt.Errorf("broker exit: %w", serr))
		}
	}()
	rep.Target, rep.Binary, rep.Env = t.Kind, t.Binary, o.brokerEnv

	gen := &generator{
		brokerURL: t.URL + "/v1/sampling", directURL: up.URL + "/v1/chat/completions",
		broker: newClient(), direct: newClient(), up: up, maxOutstanding: 8192,
	}
	// spec fills the common fields of a run and the hooks that read stage
	// timings, in process from the audit sink, else from /metrics if the
	// broker has it.
	spec := func(name string, w *workload, rate, directRatio float64, d time.Duration) loadSpec {
		s := loadSpec{name: name, w: w, rate: rate, directRatio: directRatio, warmup: o.warmup, duration: d,
			injections: o.injections, sensitive: o.sensitive, seed: o.seed}
		cpu := &cpuMeter{pid: t.pid}
		var before map[string][2]float64
		s.atWindow = func() {
			cpu.start()
			if t.sink != nil {
				t.sink.start()
			} else {
				before, _ = stageSums(ctx, t.URL)
			}
		}
		s.atEnd = func(mean float64, r *Run) {
			r.CPU = cpu.stop(r.Broker.Count + r.Refused.Count + r.MissedInjections)
			if t.sink != nil {
				r.Stages = t.sink.stop(mean)
			} else if after, ok := stageSums(ctx, t.URL); ok && before != nil {
				r.Metrics = stageDelta(before, after)
			}
		}
		return s
	}

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// Memory first: VmHWM then shows the peak of this phase, not of a
	// later run with larger prompts.
	if o.inprocess && o.memory {
		progress("memory: holding %d requests open for a heap profile", o.concurrent)
		m := &Memory{}
		err := measureMemory(ctx, gen, up, os.Getpid(), t.URL, first, o, m, func() error { return writeHeapProfile(o.memprofile) })
		if err != nil {
			return err
		}
	}
	if t.pid != 0 {
		time.Sleep(time.Second)
		idle, _, err := rss(t.pid)
		if err != nil {
			return err
		}
		rep.Memory = &Memory{IdleStartMB: round1(idle), IdleRuntime: runtimeGauges(ctx, t.URL)}
		if o.memory {
			progress("memory: holding %d requests open", o.concurrent)
			if err := measureMemory(ctx, gen, up, t.pid, t.URL, first, o, rep.Memory, nil); err != nil {
				return err
			}
		}
	}

	if o.rate > 0 {
		for _, s := range o.sizes {
			progress("run: %s prompts at %.0f/s for %s", s, o.rate, o.duration)
			r := gen.run(ctx, spec("run", workloads[s], o.rate, o.directRatio, o.duration))
			rep.Runs = append(rep.Runs, r)
			pause(ctx, time.Second)
		}
	}
	if o.findMax {
		rep.FindMax = findMax(ctx, gen, first, o, spec, progress)
	}
	if o.soak > 0 {
		progress("soak: %.0f/s for %s", o.soakRate, o.soak)
		rep.Soak = soak(ctx, gen, t.pid, spec("soak", first, o.soakRate, o.directRatio, o.soak), o.sampleEvery)
	}
	if t.sink != nil && o.allocs > 0 {
		progress("allocations: %d sequential requests per path", o.allocs)
		if rep.Allocs, err = measureAllocs(ctx, gen, first, o.allocs); err != nil {
			return err
		}
	}
	if o.memprofile != "" && !o.memory {
		if err := writeHeapProfile(o.memprofile); err != nil {
			return err
		}
	}
	if u, err := usage(ctx, t.URL); err == nil {
		rep.Usage = summarizeUsage(u)
	} else {
		rep.Usage = "unreadable: " + err.Error()
	}
	rep.EndLoad = loadAvg()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return writeReport(stdout, o.jsonOut, rep)
}

func writeReport(stdout io.Writer, jsonOut string, rep *Report) error {
	if jsonOut != "-" {
		writeText(stdout, rep)
	}
	if jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if jsonOut == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(jsonOut, b, 0o644)
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
