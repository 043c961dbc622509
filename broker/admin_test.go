package broker_test

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/quota"
)

func TestAdminLimits(t *testing.T) {
	store := quota.NewMemory(map[string]broker.ServerLimits{
		"a": {Budgets: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 1000}}},
	}, quota.Options{})
	srv := &broker.Server{ID: "a", TokenHashes: [][32]byte{sha256.Sum256([]byte(tokenA))}, Policy: broker.Policy{Models: []string{"m"}}}
	bk, err := broker.New([]*broker.Server{srv}, []broker.Model{{Name: "m", Provider: "p"}},
		map[string]broker.Provider{"p": &fakeProvider{CompleteFn: answer("x")}}, broker.Options{Quota: store})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(bk.Handler(broker.HTTPOptions{Admin: broker.AdminOptions{
		TokenHashes: [][32]byte{sha256.Sum256([]byte("admin"))}, Quota: store,
	}}))
	defer ts.Close()

	call := func(token, method, path, body string) (int, map[string]any) {
		t.Helper()
		r, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
		return resp.StatusCode, out
	}
	steps := []struct {
		name, token, method, path, body string
		wantStatus                      int
		want                            map[string]any // a subset of the answer
	}{
		{"server token is not admin", tokenA, "GET", "/admin/v1/servers/a/limits", "", 401, nil},
		{"config limits", "admin", "GET", "/admin/v1/servers/a/limits", "", 200,
			map[string]any{"source": "config", "limits": map[string]any{"budgets": []any{map[string]any{"period": "day", "microUSD": 1000.0}}}}},
		{"override", "admin", "PUT", "/admin/v1/servers/a/limits", `{"budgets":[{"period":"month","microUSD":5000000}],"requestsPerMinute":60}`, 200,
			map[string]any{"source": "override"}},
		{"override in force", "admin", "GET", "/admin/v1/servers/a/limits", "", 200,
			map[string]any{"source": "override", "limits": map[string]any{"budgets": []any{map[string]any{"period": "month", "microUSD": 5e6}}, "requestsPerMinute": 60.0}}},
		{"bad period", "admin", "PUT", "/admin/v1/servers/a/limits", `{"budgets":[{"period":"fortnight","microUSD":5}]}`, 400, nil},
		{"unknown field", "admin", "PUT", "/admin/v1/servers/a/limits", `{"budget":1}`, 400, nil},
		{"not json", "admin", "PUT", "/admin/v1/servers/a/limits", `{`, 400, nil},
		{"unknown server", "admin", "GET", "/admin/v1/servers/zz/limits", "", 404, nil},
		{"bad history", "admin", "GET", "/admin/v1/servers/a/usage?history=x", "", 400, nil},
		{"usage", "admin", "GET", "/admin/v1/servers/a/usage?history=2", "", 200, map[string]any{"server": "a"}},
		{"delete override", "admin", "DELETE", "/admin/v1/servers/a/limits", "", 200, map[string]any{"source": "config"}},
	}
	for _, s := range steps {
		status, got := call(s.token, s.method, s.path, s.body)
		if status != s.wantStatus {
			t.Errorf("%s: status %d, want %d (%v)", s.name, status, s.wantStatus, got)
			continue
		}
		for k, v := range s.want {
			if diff := cmp.Diff(v, got[k]); diff != "" {
				t.Errorf("%s: %s (-want +got):\n%s", s.name, k, diff)
			}
		}
	}
}
