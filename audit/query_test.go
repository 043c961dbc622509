package audit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
)

func eventIDs(t *testing.T, recs []Record) []string {
	t.Helper()
	out := []string{}
	for _, r := range recs {
		var e broker.Event
		if err := json.Unmarshal(r.Event, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.ID)
	}
	return out
}

// wantIDs returns the ids of events 1..n for which keep is true.
func wantIDs(n int, keep func(e *broker.Event) bool) []string {
	out := []string{}
	for i := 1; i <= n; i++ {
		if e := testEvent(i); keep(e) {
			out = append(out, e.ID)
		}
	}
	return out
}

// TestQuery filters and pages through the file sink and the Redis stream.
func TestQuery(t *testing.T) {
	const n = 40
	tests := []struct {
		name string
		f    Filter
		keep func(e *broker.Event) bool
	}{
		{"everything", Filter{}, func(*broker.Event) bool { return true }},
		{"server", Filter{Server: "beta"}, func(e *broker.Event) bool { return e.Server == "beta" }},
		{"decision and reason", Filter{Decision: "blocked", Reason: "injection_detected"}, func(e *broker.Event) bool { return e.Decision == "blocked" }},
		{"reason", Filter{Reason: "budget_exceeded"}, func(e *broker.Event) bool { return e.Reason == broker.ReasonBudgetExceeded }},
		{"time range", Filter{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second)}, func(e *broker.Event) bool {
			return !e.Time.Before(t0.Add(10*time.Second)) && e.Time.Before(t0.Add(20*time.Second))
		}},
		{"all at once", Filter{Server: "alpha", Decision: "served", Since: t0.Add(5 * time.Second)}, func(e *broker.Event) bool {
			return e.Server == "alpha" && e.Decision == "served" && !e.Time.Before(t0.Add(5*time.Second))
		}},
		{"chain", Filter{Chain: "web-9"}, func(*broker.Event) bool { return false }},
	}
	sources := map[string]func(t *testing.T) Source{
		"file": func(t *testing.T) Source {
			f := newFile(t, FileOptions{MaxBytes: 8 << 10, Keep: 20})
			writeEvents(t, "web-1", n, f)
			return f
		},
		"redis": func(t *testing.T) Source {
			c := redisClient(t)
			s := NewRedisStream(c, testStream(t, c), RedisOptions{})
			writeEvents(t, "web-1", n, s)
			return s
		},
	}
	for name, newSource := range sources {
		t.Run(name, func(t *testing.T) {
			src := newSource(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					want := wantIDs(n, tt.keep)
					page, err := Query(context.Background(), src, tt.f, "", MaxLimit)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(want, eventIDs(t, page.Records)); diff != "" {
						t.Errorf("one page (-want +got):\n%s", diff)
					}
					if page.Next != "" {
						t.Errorf("next = %q after the last page", page.Next)
					}
					// The same, three at a time.
					var got []Record
					after := ""
					for range 100 {
						p, err := Query(context.Background(), src, tt.f, after, 3)
						if err != nil {
							t.Fatal(err)
						}
						if len(p.Records) > 3 {
							t.Fatalf("page of %d records, limit 3", len(p.Records))
						}
						got = append(got, p.Records...)
						if after = p.Next; after == "" {
							break
						}
					}
					if diff := cmp.Diff(want, eventIDs(t, got)); diff != "" {
						t.Errorf("paged (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// TestHandler serves queries mounted as the admin API mounts it.
func TestHandler(t *testing.T) {
	f := newFile(t, FileOptions{})
	cp := writeEvents(t, "web-1", 12, f)
	r := chi.NewRouter()
	r.Route("/admin/v1", func(r chi.Router) {
		r.Mount("/audit", http.StripPrefix("/admin/v1/audit", Handler(f, HandlerOptions{Checkpoint: func() Checkpoint { return cp }})))
	})
	get := func(method, target string) (int, map[string]json.RawMessage) {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		var body map[string]json.RawMessage
		if rec.Body.Len() > 0 {
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
			}
		}
		return rec.Code, body
	}

	code, body := get("GET", "/admin/v1/audit?server=beta&limit=2")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var page struct {
		Records []json.RawMessage `json:"records"`
		Next    string            `json:"next"`
	}
	raw, _ := json.Marshal(body)
	json.Unmarshal(raw, &page)
	if len(page.Records) != 2 || page.Next == "" {
		t.Fatalf("page %s", raw)
	}
	// Records come whole, in the wire form, and verify.
	var recs []Record
	for _, b := range page.Records {
		rec, err := ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	s, _ := newSealer(testKey)
	for _, rec := range recs {
		if !s.check(&rec) {
			t.Errorf("record %d from the API does not verify", rec.Seq)
		}
	}
	code, body = get("GET", "/admin/v1/audit/?server=beta&limit=2&after="+page.Next)
	if code != 200 || !strings.Contains(string(body["records"]), `"seq":7`) {
		t.Errorf("second page: %d %s", code, body["records"])
	}
	code, body = get("GET", "/admin/v1/audit/checkpoint")
	if code != 200 || string(body["seq"]) != "12" {
		t.Errorf("checkpoint: %d %s", code, body)
	}

	for _, tt := range []struct {
		method, target string
		want           int
	}{
		{"GET", "/admin/v1/audit?sever=beta", 400},
		{"GET", "/admin/v1/audit?decision=maybe", 400},
		{"GET", "/admin/v1/audit?since=yesterday", 400},
		{"GET", "/admin/v1/audit?limit=5000", 400},
		{"GET", "/admin/v1/audit?server=a&server=b", 400},
		{"GET", "/admin/v1/audit?after=nonsense", 400},
		{"POST", "/admin/v1/audit", 405},
		{"GET", "/admin/v1/audit/elsewhere", 404},
	} {
		if code, body := get(tt.method, tt.target); code != tt.want {
			t.Errorf("%s %s: status %d, want %d: %s", tt.method, tt.target, code, tt.want, body)
		}
	}
}
