package broker

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeRequest feeds hostile bodies through the decoder and the
// validator of every version: no panic, every refusal is a 4xx with a known
// reason, never an internal error, and the one-pass reader agrees with the
// careful path on everything it takes.
func FuzzDecodeRequest(f *testing.F) {
	seeds := []string{
		string(req(params(textMsg))),
		string(req(params(textMsg, toolUseMsg, toolResMsg))),
		string(req(params(imageMsg, audioMsg, arrayMsg))),
		string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"tools":[` + weatherTool + `],"toolChoice":{"mode":"auto"},"modelPreferences":{"hints":[{"name":"gpt"}],"costPriority":0}}`)),
		`{"jsonrpc":"2.0","id":"x","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":[{"type":"tool_result","toolUseId":"a","content":[{"type":"resource","resource":{"uri":"a","text":"b"}}]}]}],"maxTokens":1e3}}`,
		`[]`, `null`, `{"id":1}`, "\xff",
	}
	for _, s := range append(seeds, agreementBodies...) {
		f.Add([]byte(s))
	}
	for seed := range uint64(20) {
		f.Add(genRequest(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Decoding does not depend on which supported version it is.
		for _, lim := range []Limits{{}, {MaxDepth: 4}} {
			if d := diffDecode(body, LatestVersion, lim); d != "" {
				t.Fatalf("limits %+v: one-pass and careful decoding differ:\n%s", lim, d)
			}
		}
		for _, v := range Versions {
			r, _, err := DecodeRequest(body, v, Limits{})
			if err == nil {
				err = Validate(&r.Params, v, Limits{})
			}
			if err != nil {
				e := AsError(err)
				if e.Reason == ReasonInternal || e.Reason.HTTPStatus() >= 500 {
					t.Fatalf("version %s: internal error for input: %v", v, err)
				}
				continue
			}
			if _, err := json.Marshal(&r.Params); err != nil {
				t.Fatalf("valid params do not re-encode: %v", err)
			}
		}
	})
}
