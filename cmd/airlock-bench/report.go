package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Latency summarizes a set of request latencies. Times are microseconds,
// so that the JSON report reads without unit conversions.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// summarize sorts d in place and returns its percentiles.
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{
		Count: len(d),
		P50:   micros(percentile(d, 50)),
		P90:   micros(percentile(d, 90)),
		P99:   micros(percentile(d, 99)),
		P999:  micros(percentile(d, 99.9)),
		Max:   micros(d[len(d)-1]),
		Mean:  micros(sum / time.Duration(len(d))),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest value that at least p% of the values do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps 99.9% of 1000 at rank 999 despite float rounding.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	return sorted[min(max(rank, 1), n)-1]
}

func micros(d time.Duration) float64 { return math.Round(float64(d)/1e3*10) / 10 }

// Added is the broker's latency minus the direct path's, percentile by
// percentile: the difference of percentiles, not a percentile of
// differences, since the two sets are independent requests.
type Added struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
}

func added(broker, direct Latency) *Added {
	if broker.Count == 0 || direct.Count == 0 {
		return nil
	}
	r := func(x float64) float64 { return math.Round(x*10) / 10 }
	return &Added{
		P50:  r(broker.P50 - direct.P50),
		P90:  r(broker.P90 - direct.P90),
		P99:  r(broker.P99 - direct.P99),
		P999: r(broker.P999 - direct.P999),
	}
}

// Run is the result of one open-loop run at a fixed rate.
type Run struct {
	Name        string  `json:"name"`
	Size        string  `json:"size"`
	PromptBytes int     `json:"promptBytes"` // mean prompt text length
	Rate        float64 `json:"rate"`        // broker requests scheduled per second
	DirectRate  float64 `json:"directRate"`  // direct requests scheduled per second
	Seconds     float64 `json:"seconds"`     // measured window, warm-up excluded

	// Broker is the latency of served broker requests, Direct of the
	// equivalent requests sent straight to the upstream, both measured
	// from the scheduled send time. Refused are the injections the broker
	// blocked, which never reach the upstream.
	Broker  Latency `json:"broker"`
	Direct  Latency `json:"direct"`
	Added   *Added  `json:"added,omitempty"`
	Refused Latency `json:"refused"`
	// Lag is how late the generator sent requests against their schedule;
	// it is part of both Broker and Direct.
	Lag Latency `json:"generatorLag"`

	Redacted         int            `json:"redacted"`         // served with secrets or personal data replaced
	MissedInjections int            `json:"missedInjections"` // injection prompts the broker served
	Leaks            int64          `json:"leaks"`            // planted values that reached the upstream through the broker
	Errors           map[string]int `json:"errors,omitempty"`
	ErrorCount       int            `json:"errorCount"`
	Achieved         float64        `json:"achievedRate"` // broker answers per second in the window

	LoadAvg [3]float64 `json:"loadAvg"` // at the end of the run
	CPU     *CPU       `json:"cpu,omitempty"`
	Stages  *Stages    `json:"stages,omitempty"`
	Metrics *Stages    `json:"metricsStages,omitempty"`
}

// Stages is where a served request's time went inside the broker.
type Stages struct {
	Source string  `json:"source"` // "audit events (in-process)" or "GET /metrics"
	Count  int     `json:"count"`
	Stages []Stage `json:"stages"`
}

// Stage is one pipeline stage's share of a served request.
type Stage struct {
	Name string  `json:"name"`
	Mean float64 `json:"mean_us"`
	P50  float64 `json:"p50_us,omitempty"`
	P99  float64 `json:"p99_us,omitempty"`
}

// FindMax is the result of the step mode.
type FindMax struct {
	P99Limit float64 `json:"p99Limit_us"`
	Steps    []Run   `json:"steps"`
	// Max is the highest achieved rate of a step that kept p99 under the
	// limit without errors; StoppedBy says what ended the search.
	Max       float64 `json:"maxSustainable"`
	StoppedBy string  `json:"stoppedBy"`
}

// Memory is the broker's resident memory, from /proc/<pid>/status.
type Memory struct {
	IdleStartMB   float64        `json:"idleStartMB"`
	Concurrent    int            `json:"concurrent"`     // requests held open at once
	ReachedMB     float64        `json:"heldMB"`         // RSS while they were held
	PeakMB        float64        `json:"peakMB"`         // VmHWM after the phase
	HeldInFlight  int64          `json:"heldInUpstream"` // requests seen waiting in the upstream
	Served        int            `json:"served"`
	Errors        int            `json:"errors"`
	IdleAfterMB   float64        `json:"idleAfterMB"`
	LoadAvg       [3]float64     `json:"loadAvg"`
	ErrorExamples map[string]int `json:"errorExamples,omitempty"`
	// HeldRuntime are the Go runtime's gauges (MB, goroutines) from the
	// broker's /metrics while the requests were held, when it serves them.
	HeldRuntime map[string]float64 `json:"heldRuntime,omitempty"`
	IdleRuntime map[string]float64 `json:"idleRuntime,omitempty"` // the same, idle before the runs
}

// Soak is resident memory sampled during a long run.
type Soak struct {
	Run     Run          `json:"run"`
	Samples []SoakSample `json:"samples"`
	FirstMB float64      `json:"firstMB"`
	LastMB  float64      `json:"lastMB"`
	MinMB   float64      `json:"minMB"`
	MaxMB   float64      `json:"maxMB"`
	// SlopeMBPerMin is the least-squares slope over the second half of the
	// samples, after warm-up effects: near zero when memory is flat.
	SlopeMBPerMin float64 `json:"slopeMBPerMin"`
}

// SoakSample is the broker's RSS at a moment of the soak.
type SoakSample struct {
	Seconds float64 `json:"s"`
	MB      float64 `json:"mb"`
}

// Allocs estimates the broker's own allocations per request, in process:
// sequential requests through the broker minus the same through the
// direct path (both include the load generator's client and the upstream).
type Allocs struct {
	Requests       int     `json:"requests"`
	BrokerPath     float64 `json:"brokerPathAllocs"`
	DirectPath     float64 `json:"directPathAllocs"`
	Broker         float64 `json:"brokerAllocs"`
	BrokerPathKB   float64 `json:"brokerPathKB"`
	DirectPathKB   float64 `json:"directPathKB"`
	BrokerKB       float64 `json:"brokerKB"`
	SequentialP50  float64 `json:"sequentialBrokerP50_us"`
	SequentialDP50 float64 `json:"sequentialDirectP50_us"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs     int        `json:"cpus"`
	Model    string     `json:"model"`
	MemoryGB float64    `json:"memoryGB"`
	Kernel   string     `json:"kernel"`
	Go       string     `json:"go"`
	LoadAvg  [3]float64 `json:"loadAvgStart"`
}

// Report is everything one invocation measured.
type Report struct {
	Command string     `json:"command"`
	Machine Machine    `json:"machine"`
	Target  string     `json:"target"` // "subprocess" or "in-process"
	Binary  string     `json:"binary,omitempty"`
	Env     []string   `json:"brokerEnv,omitempty"`
	Runs    []Run      `json:"runs,omitempty"`
	FindMax *FindMax   `json:"findMax,omitempty"`
	Memory  *Memory    `json:"memory,omitempty"`
	Soak    *Soak      `json:"soak,omitempty"`
	Allocs  *Allocs    `json:"allocs,omitempty"`
	Usage   string     `json:"usage,omitempty"` // the admin API's usage of the bench server, after the runs
	EndLoad [3]float64 `json:"loadAvgEnd"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadAvg: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGB = math.Round(kb/1024/1024*10) / 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &l[0], &l[1], &l[2])
	}
	return l
}

// ms formats microseconds as milliseconds with three decimals.
func ms(us float64) string { return fmt.Sprintf("%.3f", us/1000) }

func writeLatencyRow(w io.Writer, name string, l Latency) {
	if l.Count == 0 {
		fmt.Fprintf(w, "%s\t0\t-\t-\t-\t-\t-\t\n", name)
		return
	}
	fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
}

// writeRun prints one run as a table of percentiles in milliseconds.
func writeRun(w io.Writer, r *Run) {
	fmt.Fprintf(w, "%s: %s prompts (mean %d bytes), broker %.0f req/s + direct %.0f req/s, %.0fs measured, load average %.2f %.2f %.2f\n",
		r.Name, r.Size, r.PromptBytes, r.Rate, r.DirectRate, r.Seconds, r.LoadAvg[0], r.LoadAvg[1], r.LoadAvg[2])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ms\tcount\tp50\tp90\tp99\tp99.9\tmax\t\n")
	writeLatencyRow(tw, "direct → upstream", r.Direct)
	writeLatencyRow(tw, "broker → upstream", r.Broker)
	if a := r.Added; a != nil {
		fmt.Fprintf(tw, "added by broker\t\t%s\t%s\t%s\t%s\t\t\n", ms(a.P50), ms(a.P90), ms(a.P99), ms(a.P999))
	}
	writeLatencyRow(tw, "refused injections", r.Refused)
	writeLatencyRow(tw, "generator lag", r.Lag)
	tw.Flush()
	fmt.Fprintf(w, "  achieved %.1f broker answers/s; %d served with secrets/PII replaced; %d leaks to the upstream; %d injections served\n",
		r.Achieved, r.Redacted, r.Leaks, r.MissedInjections)
	if c := r.CPU; c != nil && c.BrokerCores > 0 {
		fmt.Fprintf(w, "  CPU: broker %.2f cores, %.0f µs user + %.0f µs system per request; harness (generator, upstream) %.2f cores\n",
			c.BrokerCores, c.BrokerUser, c.BrokerSys, c.HarnessCores)
	} else if c != nil {
		fmt.Fprintf(w, "  CPU: this process (generator, upstream, broker) %.2f cores\n", c.HarnessCores)
	}
	if r.ErrorCount == 0 {
		fmt.Fprintf(w, "  errors: none\n")
	} else {
		fmt.Fprintf(w, "  errors: %d\n", r.ErrorCount)
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, "    %6d  %s\n", r.Errors[k], k)
		}
	}
	for _, s := range []*Stages{r.Stages, r.Metrics} {
		if s != nil {
			writeStages(w, s)
		}
	}
}

func writeStages(w io.Writer, s *Stages) {
	fmt.Fprintf(w, "  where the time goes (%s, %d requests):\n", s.Source, s.Count)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  µs\tmean\tp50\tp99\t\n")
	for _, st := range s.Stages {
		fmt.Fprintf(tw, "  %s\t%.1f\t%s\t%s\t\n", st.Name, st.Mean, optional(st.P50), optional(st.P99))
	}
	tw.Flush()
}

func optional(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeText prints the human-readable report.
func writeText(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "airlock-bench: %s\n", r.Command)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %.1f GB, Linux %s, %s; load average at start %.2f %.2f %.2f\n",
		m.CPUs, m.Model, m.MemoryGB, m.Kernel, m.Go, m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])
	fmt.Fprintf(w, "broker: %s %s %s\n\n", r.Target, r.Binary, strings.Join(r.Env, " "))
	for i := range r.Runs {
		writeRun(w, &r.Runs[i])
		fmt.Fprintln(w)
	}
	if f := r.FindMax; f != nil {
		fmt.Fprintf(w, "find-max: p99 limit %s ms\n", ms(f.P99Limit))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target/s\tachieved/s\tp50 ms\tp99 ms\tp99.9 ms\tadded p50\tadded p99\terrors\tbroker CPU\tload\t\n")
		for _, s := range f.Steps {
			ap50, ap99 := "-", "-"
			if s.Added != nil {
				ap50, ap99 = ms(s.Added.P50), ms(s.Added.P99)
			}
			cores := "-"
			if s.CPU != nil && s.CPU.BrokerCores > 0 {
				cores = fmt.Sprintf("%.2f", s.CPU.BrokerCores)
			}
			fmt.Fprintf(tw, "%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.2f\t\n", s.Rate, s.Achieved, ms(s.Broker.P50), ms(s.Broker.P99), ms(s.Broker.P999), ap50, ap99, s.ErrorCount, cores, s.LoadAvg[0])
		}
		tw.Flush()
		fmt.Fprintf(w, "maximum sustainable: %.0f req/s (stopped: %s)\n", f.Max, f.StoppedBy)
		for _, s := range f.Steps {
			for _, k := range sortedKeys(s.Errors) {
				fmt.Fprintf(w, "  at %.0f/s: %d × %s\n", s.Rate, s.Errors[k], k)
			}
		}
		fmt.Fprintln(w)
	}
	if m := r.Memory; m != nil && m.Concurrent == 0 {
		fmt.Fprintf(w, "memory (broker RSS): idle %.1f MB before the runs\n\n", m.IdleStartMB)
	} else if m != nil {
		fmt.Fprintf(w, "memory (broker RSS): idle %.1f MB; %d concurrent requests held (%d seen in the upstream): %.1f MB, peak %.1f MB; idle after %.1f MB; %d served, %d errors; load average %.2f\n",
			m.IdleStartMB, m.Concurrent, m.HeldInFlight, m.ReachedMB, m.PeakMB, m.IdleAfterMB, m.Served, m.Errors, m.LoadAvg[0])
		for _, g := range []struct {
			when string
			m    map[string]float64
		}{{"idle", m.IdleRuntime}, {"while held", m.HeldRuntime}} {
			if len(g.m) > 0 {
				fmt.Fprintf(w, "  Go runtime %s:", g.when)
				for _, k := range sortedKeys(g.m) {
					fmt.Fprintf(w, " %s %.1f", k, g.m[k])
				}
				fmt.Fprintln(w)
			}
		}
		for _, k := range sortedKeys(m.ErrorExamples) {
			fmt.Fprintf(w, "  %d × %s\n", m.ErrorExamples[k], k)
		}
		fmt.Fprintln(w)
	}
	if s := r.Soak; s != nil {
		writeRun(w, &s.Run)
		fmt.Fprintf(w, "soak RSS: first %.1f MB, last %.1f MB, min %.1f, max %.1f; slope over the second half %+.2f MB/min\n  samples (s:MB):",
			s.FirstMB, s.LastMB, s.MinMB, s.MaxMB, s.SlopeMBPerMin)
		for _, x := range s.Samples {
			fmt.Fprintf(w, " %.0f:%.1f", x.Seconds, x.MB)
		}
		fmt.Fprint(w, "\n\n")
	}
	if a := r.Allocs; a != nil {
		fmt.Fprintf(w, "allocations per request (in-process, %d sequential requests each): broker path %.0f allocs %.1f KB, direct path %.0f allocs %.1f KB; the broker's own ≈ %.0f allocs, %.1f KB (sequential p50: broker %s ms, direct %s ms)\n\n",
			a.Requests, a.BrokerPath, a.BrokerPathKB, a.DirectPath, a.DirectPathKB, a.Broker, a.BrokerKB, ms(a.SequentialP50), ms(a.SequentialDP50))
	}
	if r.Usage != "" {
		fmt.Fprintf(w, "budget usage of the bench server (admin API): %s\n", r.Usage)
	}
	fmt.Fprintf(w, "load average at end: %.2f %.2f %.2f\n", r.EndLoad[0], r.EndLoad[1], r.EndLoad[2])
}

// slope is the least-squares slope of y over x.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// soakSummary fills the summary fields of s from its samples.
func soakSummary(s *Soak) {
	if len(s.Samples) == 0 {
		return
	}
	s.FirstMB, s.LastMB = s.Samples[0].MB, s.Samples[len(s.Samples)-1].MB
	s.MinMB = slices.MinFunc(s.Samples, func(a, b SoakSample) int { return cmp.Compare(a.MB, b.MB) }).MB
	s.MaxMB = slices.MaxFunc(s.Samples, func(a, b SoakSample) int { return cmp.Compare(a.MB, b.MB) }).MB
	half := s.Samples[len(s.Samples)/2:]
	var xs, ys []float64
	for _, x := range half {
		xs = append(xs, x.Seconds/60)
		ys = append(ys, x.MB)
	}
	s.SlopeMBPerMin = math.Round(slope(xs, ys)*100) / 100
}
