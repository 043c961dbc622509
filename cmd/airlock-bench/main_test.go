package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestFlagsValidation(t *testing.T) {
	tests := []struct {
		args []string
		want []string // substrings of the error; none: valid
	}{
		{nil, nil},
		{[]string{"-rate", "0", "-memory"}, nil},
		{[]string{"-redis", "10.0.0.5:6379"}, []string{"only a loopback address"}},
		{[]string{"-duration", "1h", "-size", "2k,4k"}, []string{"-duration", `unknown size "4k"`}},
		{[]string{"-inprocess", "-memory"}, []string{"not with -inprocess"}},
		{[]string{"-secrets", "0.8", "-injections", "0.5"}, []string{"add up to at most 1"}},
		{[]string{"-find-max", "-step", "1"}, []string{"-step must be above 1"}},
		{[]string{"-concurrent", "5000"}, []string{"-concurrent"}},
		{[]string{"-broker-env", "GOMAXPROCS=1,GOGC=50"}, nil},
		{[]string{"-broker-env", "AIRLOCK_LISTEN=0.0.0.0:80"}, []string{`"AIRLOCK_LISTEN" is not`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRunInProcess drives the in-process pipeline briefly, with budgets in
// memory, and checks the JSON report adds up.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the tokenizer and runs load for seconds")
	}
	var out, errs bytes.Buffer
	args := []string{"-inprocess", "-redis", "", "-rate", "50", "-duration", "1s", "-warmup", "200ms",
		"-injections", "0.2", "-secrets", "0.2", "-allocs", "20", "-json", "-"}
	if err := run(context.Background(), args, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(rep.Runs))
	}
	r := rep.Runs[0]
	if r.ErrorCount != 0 || r.Leaks != 0 || r.MissedInjections != 0 {
		t.Errorf("errors %v, leaks %d, missed injections %d", r.Errors, r.Leaks, r.MissedInjections)
	}
	if got := r.Broker.Count + r.Refused.Count; got != 50 {
		t.Errorf("%d broker answers in the window, want 50", got)
	}
	if r.Direct.Count == 0 || r.Added == nil || r.Refused.Count == 0 || r.Redacted == 0 {
		t.Errorf("direct %d, refused %d, redacted %d, added %v", r.Direct.Count, r.Refused.Count, r.Redacted, r.Added)
	}
	if r.Stages == nil || len(r.Stages.Stages) < 8 {
		t.Errorf("stages = %+v", r.Stages)
	}
	if rep.Allocs == nil || rep.Allocs.BrokerPath <= rep.Allocs.DirectPath {
		t.Errorf("allocs = %+v", rep.Allocs)
	}
}

func TestBrokerConfig(t *testing.T) {
	tests := []struct {
		s    setup
		want []string
		not  []string
	}{
		{setup{upstreamURL: "http://127.0.0.1:1"}, []string{"base_url: http://127.0.0.1:1/v1", "id: bench"}, []string{"quota:"}},
		{setup{upstreamURL: "http://127.0.0.1:1", redis: "127.0.0.1:6379", prefix: "airlock-bench:x:", holdTTL: time.Minute},
			[]string{"quota:\n  redis: {addrs: [\"127.0.0.1:6379\"], prefix: \"airlock-bench:x:\"}\n  hold_ttl: 1m0s\n"}, nil},
	}
	for _, tt := range tests {
		got := brokerConfig(tt.s, "")
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(got), &doc); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, got)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("config lacks %q:\n%s", w, got)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("config has %q:\n%s", n, got)
			}
		}
	}
}

func TestBrokerConfigAudit(t *testing.T) {
	got := brokerConfig(setup{upstreamURL: "http://127.0.0.1:1"}, "/tmp/x/audit.jsonl")
	var doc struct {
		Audit struct {
			Key   string
			Sinks []map[string]string
		}
	}
	if err := yaml.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, got)
	}
	if doc.Audit.Key != "env:AUDIT_KEY" || len(doc.Audit.Sinks) != 1 || doc.Audit.Sinks[0]["path"] != "/tmp/x/audit.jsonl" {
		t.Errorf("audit section %+v in\n%s", doc.Audit, got)
	}
}
