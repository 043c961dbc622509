package audit

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

// fakeQuota is a broker.QuotaAdmin whose Usage is UsageFn.
type fakeQuota struct {
	broker.QuotaAdmin
	UsageFn func(ctx context.Context, server string, history int) ([]broker.PeriodUsage, error)
}

func (f *fakeQuota) Usage(ctx context.Context, server string, history int) ([]broker.PeriodUsage, error) {
	return f.UsageFn(ctx, server, history)
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestMetrics records events through the wrapper and scrapes the
// exposition format.
func TestMetrics(t *testing.T) {
	q := &fakeQuota{UsageFn: func(_ context.Context, server string, _ int) ([]broker.PeriodUsage, error) {
		if server == "beta" {
			return nil, errors.New("redis down")
		}
		return []broker.PeriodUsage{
			{Period: "day", Remaining: &broker.Charge{MicroUSD: 4_500_000, Tokens: -1}},
			{Period: "month", Remaining: nil},
		}, nil
	}}
	m := NewMetrics(MetricsOptions{Quota: q, Servers: []string{"alpha", "beta"}})
	var audited int
	sink := m.Wrap(auditFunc(func(_ context.Context, e *broker.Event) error {
		audited++
		if e.ID == "req-00003" {
			return errors.New("disk full")
		}
		return nil
	}))
	for i := 1; i <= 4; i++ {
		err := sink.Record(context.Background(), testEvent(i))
		if (err != nil) != (i == 3) {
			t.Errorf("event %d: err %v", i, err)
		}
	}
	if audited != 4 {
		t.Errorf("%d events reached the sink, want 4", audited)
	}
	out := scrape(t, m)
	for _, want := range []string{
		`airlock_requests_total{decision="blocked",reason="injection_detected",server="beta"} 1`,
		`airlock_requests_total{decision="refused",reason="budget_exceeded",server="gamma"} 1`,
		`airlock_requests_total{decision="served",reason="",server="alpha"} 1`,
		`airlock_requests_total{decision="served",reason="",server="beta"} 1`,
		`airlock_tokens_total{kind="prompt",model="gpt-4o-mini",server="alpha"} 100`,
		`airlock_tokens_total{kind="completion",model="gpt-4o-mini",server="beta"} 100`,
		`airlock_cost_microusd_total{model="gpt-4o-mini",server="gamma"} 45`,
		`airlock_findings_total{rule="ignore-previous",stage="input",type="injection"} 1`,
		`airlock_stage_duration_seconds_count{stage="validate"} 4`,
		`airlock_stage_duration_seconds_count{stage="provider"} 4`,
		`airlock_stage_duration_seconds_count{stage="audit"} 4`,
		`airlock_request_duration_seconds_count{decision="served",server="alpha"} 1`,
		`airlock_upstream_responses_total{model="gpt-4o-mini",status="200"} 4`,
		`airlock_audit_write_errors_total 1`,
		`airlock_budget_remaining_microusd{period="day",server="alpha"} 4.5e+06`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, absent := range []string{`airlock_budget_remaining_tokens`, `period="month"`, `server="beta",period`, "req-0000", "1a2b3c4d", "f00d"} {
		if strings.Contains(out, absent) {
			t.Errorf("scrape has %s", absent)
		}
	}
}

type auditFunc func(ctx context.Context, e *broker.Event) error

func (f auditFunc) Record(ctx context.Context, e *broker.Event) error { return f(ctx, e) }
