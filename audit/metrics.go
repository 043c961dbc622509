package audit

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlock-broker/airlock/broker"
)

// MetricsOptions configure Metrics. The zero value works.
type MetricsOptions struct {
	// Quota and Servers, when both set, export the budget remaining of
	// each server, read from Quota at every scrape.
	Quota   broker.QuotaAdmin
	Servers []string
	// ScrapeTimeout bounds reading the budgets at a scrape. Default 2s.
	ScrapeTimeout time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Metrics keeps the Prometheus metrics of the broker, computed from audit
// events, in a registry of its own. Label values are server ids, model
// names, decisions, reasons and rule ids: configuration and closed sets,
// never request content.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	cost      *prometheus.CounterVec
	stages    [len(broker.StageNames)]prometheus.Observer
	findings  *prometheus.CounterVec
	upstream  *prometheus.CounterVec
	auditErrs prometheus.Counter
	now       func() time.Time
}

// latencyBuckets span 10µs (a validation) to a minute (a slow model).
var latencyBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005,
	.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60,
}

// NewMetrics returns the broker's metrics, with the Go runtime's and the
// process's own.
func NewMetrics(opts MetricsOptions) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_requests_total",
		Help: "Sampling requests by server, decision (served, blocked, refused, failed) and reason.",
	}, []string{"server", "decision", "reason"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "airlock_request_duration_seconds",
		Help:    "Time from a request's arrival to its audit write, by server and decision.",
		Buckets: latencyBuckets,
	}, []string{"server", "decision"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_tokens_total",
		Help: "Tokens the provider reported, by server, model and kind (prompt, completion).",
	}, []string{"server", "model", "kind"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_cost_microusd_total",
		Help: "Settled cost in micro-dollars, by server and model.",
	}, []string{"server", "model"})
	stage := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "airlock_stage_duration_seconds",
		Help:    "Time spent in each pipeline stage.",
		Buckets: latencyBuckets,
	}, []string{"stage"})
	for i, name := range broker.StageNames {
		m.stages[i] = stage.WithLabelValues(name)
	}
	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_findings_total",
		Help: "Scanner findings by type, rule and stage (input, output).",
	}, []string{"type", "rule", "stage"})
	m.upstream = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "airlock_upstream_responses_total",
		Help: "Final upstream HTTP statuses by model.",
	}, []string{"model", "status"})
	m.auditErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "airlock_audit_write_errors_total",
		Help: "Audit writes that failed; each refused its request unless the broker fails open.",
	})
	m.reg.MustRegister(m.requests, m.duration, m.tokens, m.cost, stage, m.findings, m.upstream, m.auditErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Quota != nil && len(opts.Servers) > 0 {
		if opts.ScrapeTimeout <= 0 {
			opts.ScrapeTimeout = 2 * time.Second
		}
		if opts.Logger == nil {
			opts.Logger = slog.New(slog.DiscardHandler)
		}
		m.reg.MustRegister(&budgetCollector{opts: opts})
	}
	return m
}

// Registry returns the registry, for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Observe counts e.
func (m *Metrics) Observe(e *broker.Event) {
	m.requests.WithLabelValues(e.Server, e.Decision, string(e.Reason)).Inc()
	m.duration.WithLabelValues(e.Server, e.Decision).Observe(float64(e.TotalMicros) / 1e6)
	if e.Model != "" {
		if e.PromptTokens > 0 {
			m.tokens.WithLabelValues(e.Server, e.Model, "prompt").Add(float64(e.PromptTokens))
		}
		if e.CompletionTokens > 0 {
			m.tokens.WithLabelValues(e.Server, e.Model, "completion").Add(float64(e.CompletionTokens))
		}
		if e.SettledMicroUSD > 0 {
			m.cost.WithLabelValues(e.Server, e.Model).Add(float64(e.SettledMicroUSD))
		}
	}
	for i, d := range e.Stages {
		if d > 0 && i != broker.StageAudit {
			m.stages[i].Observe(d.Seconds())
		}
	}
	for _, f := range e.Findings {
		m.findings.WithLabelValues(f.Type, f.Rule, f.Stage).Inc()
	}
	if e.UpstreamStatus != 0 {
		m.upstream.WithLabelValues(e.Model, strconv.Itoa(e.UpstreamStatus)).Inc()
	}
}

// Wrap returns an audit sink that records to next (when not nil), times
// that write as the audit stage, and observes every event, whether or not
// the write succeeded.
func (m *Metrics) Wrap(next broker.AuditSink) broker.AuditSink {
	return &observed{m: m, next: next}
}

type observed struct {
	m    *Metrics
	next broker.AuditSink
}

func (o *observed) Record(ctx context.Context, e *broker.Event) error {
	var err error
	if o.next != nil {
		t := o.m.now()
		err = o.next.Record(ctx, e)
		o.m.stages[broker.StageAudit].Observe(o.m.now().Sub(t).Seconds())
		if err != nil {
			o.m.auditErrs.Inc()
		}
	}
	o.m.Observe(e)
	return err
}

// budgetCollector reads what is left of each server's budgets at scrape.
type budgetCollector struct {
	opts MetricsOptions
}

var (
	budgetUSD = prometheus.NewDesc("airlock_budget_remaining_microusd",
		"Money left in the current period of each budget, in micro-dollars.", []string{"server", "period"}, nil)
	budgetTokens = prometheus.NewDesc("airlock_budget_remaining_tokens",
		"Tokens left in the current period of each budget.", []string{"server", "period"}, nil)
)

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetUSD
	ch <- budgetTokens
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ScrapeTimeout)
	defer cancel()
	for _, s := range c.opts.Servers {
		periods, err := c.opts.Quota.Usage(ctx, s, 0)
		if err != nil {
			c.opts.Logger.Warn("metrics: read budget usage", "server", s, "err", err)
			continue
		}
		for _, p := range periods {
			if p.Remaining == nil {
				continue
			}
			// A budget capping only money or only tokens has -1 in the other.
			if p.Remaining.MicroUSD >= 0 {
				ch <- prometheus.MustNewConstMetric(budgetUSD, prometheus.GaugeValue, float64(p.Remaining.MicroUSD), s, p.Period)
			}
			if p.Remaining.Tokens >= 0 {
				ch <- prometheus.MustNewConstMetric(budgetTokens, prometheus.GaugeValue, float64(p.Remaining.Tokens), s, p.Period)
			}
		}
	}
}
