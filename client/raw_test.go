package client

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// handlerSum is the fingerprint the handler computes for the params the SDK
// decodes from raw.
func handlerSum(t testing.TB, raw string) [sha256.Size]byte {
	t.Helper()
	var p mcp.CreateMessageWithToolsParams
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	enc, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return fingerprint(enc)
}

func params(extra string) string {
	return `{"messages":[{"role":"user","content":{"type":"text","text":"hi"}}],"maxTokens":5` + extra + `}`
}

func request(id any, method, params string) *jsonrpc.Request {
	r := &jsonrpc.Request{Method: method, Params: json.RawMessage(params)}
	if id != nil {
		r.ID, _ = jsonrpc.MakeID(id)
	}
	return r
}

func TestRawStoreObserve(t *testing.T) {
	zero := params(`,"temperature":0`)
	tests := []struct {
		name string
		msg  jsonrpc.Message
		want bool // the store then holds zero
	}{
		{"sampling request", request("s-1", "sampling/createMessage", zero), true},
		{"notification", request(nil, "sampling/createMessage", zero), false},
		{"other method", request(float64(2), "elicitation/create", zero), false},
		{"input requests", &jsonrpc.Response{Result: json.RawMessage(
			`{"resultType":"input_required","inputRequests":{"a":{"method":"elicitation/create","params":{"message":"ok?"}},"b":{"method":"sampling/createMessage","params":` + zero + `}}}`)}, true},
		{"result without input requests", &jsonrpc.Response{Result: json.RawMessage(`{"content":[]}`)}, false},
		{"error response", &jsonrpc.Response{Error: &jsonrpc.Error{Code: 1}}, false},
		{"undecodable params", request("s-2", "sampling/createMessage", `{"maxTokens":"five"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s rawStore
			s.observe(tt.msg)
			raw, ok := s.take(handlerSum(t, zero))
			if ok != tt.want || (ok && string(raw) != zero) {
				t.Errorf("take = %s, %v; want %v", raw, ok, tt.want)
			}
		})
	}
}

func TestRawStoreTake(t *testing.T) {
	zero, absent := params(`,"temperature":0`), params(``)
	sum := handlerSum(t, absent)
	if sum != handlerSum(t, zero) {
		t.Fatal("a temperature of 0 should be lost by the SDK's types")
	}
	t.Run("once", func(t *testing.T) {
		var s rawStore
		s.add(json.RawMessage(zero))
		if raw, ok := s.take(sum); !ok || string(raw) != zero {
			t.Errorf("take = %s, %v", raw, ok)
		}
		if _, ok := s.take(sum); ok {
			t.Error("taken twice")
		}
	})
	t.Run("same params twice", func(t *testing.T) {
		var s rawStore
		s.add(json.RawMessage(zero))
		s.add(json.RawMessage(zero))
		for i := range 2 {
			if raw, ok := s.take(sum); !ok || string(raw) != zero {
				t.Errorf("take %d = %s, %v", i, raw, ok)
			}
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		// Which handler call is which is unknown: both send the SDK's params.
		var s rawStore
		s.add(json.RawMessage(zero))
		s.add(json.RawMessage(absent))
		for i := range 2 {
			if raw, ok := s.take(sum); ok {
				t.Errorf("take %d = %s, want none", i, raw)
			}
		}
		if len(s.pending) != 0 {
			t.Errorf("%d entries left", len(s.pending))
		}
	})
	t.Run("bounded", func(t *testing.T) {
		var s rawStore
		for i := range maxRawEntries + 1 {
			s.add(json.RawMessage(params(fmt.Sprintf(`,"systemPrompt":"%d"`, i))))
		}
		if len(s.pending) != maxRawEntries {
			t.Errorf("%d entries, want %d", len(s.pending), maxRawEntries)
		}
		if _, ok := s.take(handlerSum(t, params(`,"systemPrompt":"0"`))); ok {
			t.Error("the oldest entry was kept")
		}
		if _, ok := s.take(handlerSum(t, params(fmt.Sprintf(`,"systemPrompt":"%d"`, maxRawEntries)))); !ok {
			t.Error("the newest entry was dropped")
		}
	})
	t.Run("too large", func(t *testing.T) {
		var s rawStore
		big := params(`,"systemPrompt":"` + strings.Repeat("x", maxRawBytes) + `"`)
		s.add(json.RawMessage(big))
		if _, ok := s.take(handlerSum(t, big)); ok {
			t.Error("raw params over the cap were kept")
		}
		if len(s.pending) != 0 {
			t.Error("the entry was not taken")
		}
	})
}

// FuzzRawStore feeds hostile server messages to the store: it must not
// panic, and raw params it hands out must decode to the params they stand
// for.
func FuzzRawStore(f *testing.F) {
	f.Add(params(`,"temperature":0`), false)
	f.Add(`{"inputRequests":{"k":{"method":"sampling/createMessage","params":`+params(``)+`}}}`, true)
	f.Add(`{"inputRequests":{"k":{"method":"sampling/createMessage","params":null}}}`, true)
	f.Add(`{"messages":[{"role":"user","content":[{"type":"tool_result","toolUseId":"1","content":[]}]}],"maxTokens":1e3}`, false)
	f.Fuzz(func(t *testing.T, data string, response bool) {
		var s rawStore
		if response {
			s.observe(&jsonrpc.Response{Result: json.RawMessage(data)})
		} else {
			s.observe(request("s", "sampling/createMessage", data))
		}
		for _, e := range append([]rawEntry(nil), s.pending...) {
			raw, ok := s.take(e.sum)
			if !ok {
				continue
			}
			var p mcp.CreateMessageWithToolsParams
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("handed out undecodable params %s: %v", raw, err)
			}
			enc, _ := json.Marshal(&p)
			if fingerprint(enc) != e.sum {
				t.Fatalf("handed out %s for another fingerprint", raw)
			}
		}
	})
}
