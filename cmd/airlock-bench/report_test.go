package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, x := range n {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	thousand := make([]int, 1000)
	for i := range thousand {
		thousand[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99.9, 7 * time.Millisecond},
		{"p0 is the minimum", ms(1, 2, 3), 0, time.Millisecond},
		{"p100 is the maximum", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p90 of 1..100", ms(hundred...), 90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the maximum", ms(hundred...), 99.9, 100 * time.Millisecond},
		{"p99.9 of 1..1000", ms(thousand...), 99.9, 999 * time.Millisecond},
		{"p99 of 1..1000", ms(thousand...), 99, 990 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeAndAdded(t *testing.T) {
	var broker, direct []time.Duration
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		broker = append(broker, time.Duration(i)*time.Microsecond+500*time.Microsecond)
		direct = append(direct, time.Duration(i)*time.Microsecond)
	}
	b, d := summarize(broker), summarize(direct)
	wantD := Latency{Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("summarize(direct) (-want +got):\n%s", diff)
	}
	want := &Added{P50: 500, P90: 500, P99: 500, P999: 500}
	if diff := cmp.Diff(want, added(b, d)); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if got := added(b, Latency{}); got != nil {
		t.Errorf("added without a baseline = %+v, want nil", got)
	}
}

func TestSummarizeRun(t *testing.T) {
	w := &workload{size: "2k", meanLen: 2048}
	s := loadSpec{name: "run", w: w, rate: 10, directRatio: 1, warmup: time.Second, duration: 2 * time.Second}
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	samples := []sample{
		// Warm-up: ignored, even its error.
		{path: viaBroker, out: outError, err: "broker: status 503 overloaded", sched: 500 * time.Millisecond},
		{path: viaBroker, class: classPlain, out: outOK, sched: time.Second, lat: us(400), end: 2 * time.Second},
		{path: viaBroker, class: classSensitive, out: outOK, sched: time.Second, lat: us(600), end: 3 * time.Second},
		{path: viaBroker, class: classInjection, out: outRefused, sched: time.Second, lat: us(200), end: 2 * time.Second},
		{path: viaBroker, class: classInjection, out: outOK, sched: time.Second, lat: us(300), end: 2 * time.Second},
		{path: viaBroker, class: classPlain, out: outError, err: "broker: status 502 provider_error", sched: 2 * time.Second},
		{path: viaDirect, class: classPlain, out: outOK, sched: time.Second, lat: us(100)},
		{path: viaDirect, class: classInjection, out: outOK, sched: time.Second, lat: us(900)}, // not in the baseline
	}
	r := summarizeRun(s, samples)
	if r.Broker.Count != 2 || r.Broker.P50 != 400 || r.Broker.Max != 600 {
		t.Errorf("broker = %+v, want the two served requests", r.Broker)
	}
	if r.Direct.Count != 1 || r.Direct.P50 != 100 {
		t.Errorf("direct = %+v, want the plain request only", r.Direct)
	}
	if r.Refused.Count != 1 || r.MissedInjections != 1 || r.Redacted != 1 {
		t.Errorf("refused %d, missed %d, redacted %d; want 1, 1, 1", r.Refused.Count, r.MissedInjections, r.Redacted)
	}
	if diff := cmp.Diff(map[string]int{"broker: status 502 provider_error": 1}, r.Errors); diff != "" || r.ErrorCount != 1 {
		t.Errorf("errors %d (-want +got):\n%s", r.ErrorCount, diff)
	}
	// Four answers over the two seconds from the window's start to the last.
	if r.Achieved != 2 {
		t.Errorf("achieved = %v, want 2", r.Achieved)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		path    uint8
		c       class
		status  int
		reason  string
		wantOut uint8
		wantErr string
	}{
		{"served", viaBroker, classPlain, 200, "", outOK, ""},
		{"injection refused", viaBroker, classInjection, 403, "injection_detected", outRefused, ""},
		{"plain prompt refused", viaBroker, classPlain, 403, "injection_detected", outError, "broker: status 403 injection_detected"},
		{"overloaded", viaBroker, classPlain, 503, "overloaded", outError, "broker: status 503 overloaded"},
		{"direct injection served", viaDirect, classInjection, 200, "", outOK, ""},
		{"direct failure", viaDirect, classPlain, 500, "", outError, "direct: status 500 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := classify(tt.path, tt.c, tt.status, tt.reason, nil)
			if out != tt.wantOut || err != tt.wantErr {
				t.Errorf("classify = %d %q, want %d %q", out, err, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestSoakSummary(t *testing.T) {
	s := &Soak{}
	for i := range 10 {
		mb := 40.0
		if i >= 5 {
			mb = 50 + float64(i-5)*0.5 // the second half grows 0.5 MB per sample
		}
		s.Samples = append(s.Samples, SoakSample{Seconds: float64(i) * 60, MB: mb})
	}
	soakSummary(s)
	if s.FirstMB != 40 || s.LastMB != 52 || s.MinMB != 40 || s.MaxMB != 52 {
		t.Errorf("first %v last %v min %v max %v", s.FirstMB, s.LastMB, s.MinMB, s.MaxMB)
	}
	if s.SlopeMBPerMin != 0.5 {
		t.Errorf("slope = %v MB/min, want 0.5", s.SlopeMBPerMin)
	}
}

func TestParseStageSums(t *testing.T) {
	text := `# HELP airlock_stage_duration_seconds Time per pipeline stage.
# TYPE airlock_stage_duration_seconds histogram
airlock_stage_duration_seconds_bucket{stage="input",le="0.001"} 3
airlock_stage_duration_seconds_sum{stage="input"} 0.0003
airlock_stage_duration_seconds_count{stage="input"} 3
airlock_stage_duration_seconds_sum{server="a",stage="reserve"} 0.002
airlock_stage_duration_seconds_count{server="a",stage="reserve"} 10
airlock_requests_total 13
`
	got, ok := parseStageSums(strings.NewReader(text))
	want := map[string][2]float64{"input": {0.0003, 3}, "reserve": {0.002, 10}}
	if diff := cmp.Diff(want, got); diff != "" || !ok {
		t.Errorf("parseStageSums ok=%v (-want +got):\n%s", ok, diff)
	}
	before := map[string][2]float64{"input": {0.0001, 1}}
	got["queue"] = [2]float64{0.001, 10} // not a pipeline stage: last
	d := stageDelta(before, got)
	wantD := &Stages{Source: "GET /metrics (airlock_stage_duration_seconds)", Count: 10, Stages: []Stage{{Name: "input", Mean: 100}, {Name: "reserve", Mean: 200}, {Name: "queue", Mean: 100}}}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("stageDelta (-want +got):\n%s", diff)
	}
	if _, ok := parseStageSums(strings.NewReader("airlock_requests_total 1\n")); ok {
		t.Error("a page without stage metrics parsed as ok")
	}
}

func TestWriteText(t *testing.T) {
	r := &Report{
		Command: "airlock-bench -rate 500",
		Target:  "subprocess",
		Runs: []Run{{
			Name: "run", Size: "2k", Rate: 500, DirectRate: 500, Seconds: 30,
			Broker: Latency{Count: 10, P50: 400, P90: 500, P99: 900, P999: 1000, Max: 1000},
			Direct: Latency{Count: 10, P50: 100, P90: 150, P99: 300, P999: 400, Max: 400},
			Added:  &Added{P50: 300, P90: 350, P99: 600, P999: 600},
			Errors: map[string]int{"broker: status 503 overloaded": 2}, ErrorCount: 2,
		}},
	}
	var b bytes.Buffer
	writeText(&b, r)
	for _, want := range []string{"added by broker", "0.300", "0.600", "errors: 2", "2  broker: status 503 overloaded"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseStat(t *testing.T) {
	at := time.Unix(100, 0)
	got, err := parseStat("4242 (air lock (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 2000000 5000\n", at)
	if err != nil {
		t.Fatal(err)
	}
	want := cpuTimes{user: 2500 * time.Millisecond, sys: 750 * time.Millisecond, at: at}
	if got != want {
		t.Errorf("parseStat = %+v, want %+v", got, want)
	}
	if _, err := parseStat("garbage", at); err == nil {
		t.Error("parseStat accepted garbage")
	}
}
