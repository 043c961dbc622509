package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// stageMetric is the histogram a broker with GET /metrics exposes per stage.
const stageMetric = "airlock_stage_duration_seconds"

var stageLabelRE = regexp.MustCompile(`stage="([^"]+)"`)

// stageSums reads the per-stage sums and counts of stageMetric from a
// Prometheus text exposition. ok is false when the broker exposes none.
func stageSums(ctx context.Context, base string) (sums map[string][2]float64, ok bool) {
	body, err := scrape(ctx, base)
	if err != nil {
		return nil, false
	}
	defer body.Close()
	return parseStageSums(body)
}

// scrape returns the body of the broker's GET /metrics, at most 16 MB.
func scrape(ctx context.Context, base string) (io.ReadCloser, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, 16<<20), resp.Body}, nil
}

func parseStageSums(r io.Reader) (map[string][2]float64, bool) {
	sums := map[string][2]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var idx int
		switch {
		case strings.HasPrefix(line, stageMetric+"_sum{"):
			idx = 0
		case strings.HasPrefix(line, stageMetric+"_count{"):
			idx = 1
		default:
			continue
		}
		m := stageLabelRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		s := sums[m[1]]
		s[idx] += v
		sums[m[1]] = s
	}
	return sums, len(sums) > 0
}

// stageDelta is the mean time per stage between two scrapes, in pipeline
// order. Refused requests count in the stages they reached.
func stageDelta(before, after map[string][2]float64) *Stages {
	out := &Stages{Source: "GET /metrics (" + stageMetric + ")"}
	names := slices.Clone(broker.StageNames[:])
	for _, name := range sortedKeys(after) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if _, ok := after[name]; !ok {
			continue
		}
		a, b := after[name], before[name]
		n := a[1] - b[1]
		if n <= 0 {
			continue
		}
		out.Count = max(out.Count, int(n))
		out.Stages = append(out.Stages, Stage{Name: name, Mean: math.Round((a[0]-b[0])/n*1e7) / 10})
	}
	if len(out.Stages) == 0 {
		return nil
	}
	return out
}

// runtimeGauges reads the Go runtime's memory gauges (in MB) and goroutine
// count from a broker's /metrics; nil when it serves none.
func runtimeGauges(ctx context.Context, base string) map[string]float64 {
	body, err := scrape(ctx, base)
	if err != nil {
		return nil
	}
	defer body.Close()
	return parseRuntimeGauges(body)
}

// runtimeGaugeNames are the gauges runtimeGauges keeps, and their names in
// the report.
var runtimeGaugeNames = map[string]string{
	"go_goroutines":                   "goroutines",
	"go_memstats_heap_inuse_bytes":    "heap_inuse_MB",
	"go_memstats_stack_inuse_bytes":   "stack_inuse_MB",
	"go_memstats_heap_alloc_bytes":    "heap_alloc_MB",
	"go_memstats_sys_bytes":           "sys_MB",
	"go_memstats_next_gc_bytes":       "next_gc_MB",
	"go_memstats_heap_released_bytes": "heap_released_MB",
}

func parseRuntimeGauges(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		key, want := runtimeGaugeNames[name]
		if !ok || !want {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		if strings.HasSuffix(key, "_MB") {
			v = math.Round(v/(1<<20)*10) / 10
		}
		out[key] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
