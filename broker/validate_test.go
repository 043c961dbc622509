package broker

import (
	"fmt"
	"strings"
	"testing"
)

// req wraps params JSON in a JSON-RPC envelope.
func req(params string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":` + params + `}`)
}

const (
	textMsg      = `{"role":"user","content":{"type":"text","text":"hi"}}`
	imageMsg     = `{"role":"user","content":{"type":"image","data":"aGVsbG8=","mimeType":"image/png"}}`
	audioMsg     = `{"role":"user","content":{"type":"audio","data":"aGVsbG8=","mimeType":"audio/wav"}}`
	arrayMsg     = `{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`
	toolUseMsg   = `{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]}`
	toolResMsg   = `{"role":"user","content":[{"type":"tool_result","toolUseId":"t1","content":[{"type":"text","text":"sunny"}]}]}`
	weatherTool  = `{"name":"get_weather","inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}}`
	wantOK       = ""
	wantTooLarge = "request_too_large"
	wantInvalid  = "invalid_request"
)

func params(msgs ...string) string {
	return `{"messages":[` + strings.Join(msgs, ",") + `],"maxTokens":100}`
}

// TestValidateVersions runs every case against every protocol version; the
// want function says which versions accept it.
func TestValidateVersions(t *testing.T) {
	all := func(string) string { return wantOK }
	since := func(first string) func(string) string {
		return func(v string) string {
			if v >= first {
				return wantOK
			}
			return wantInvalid
		}
	}
	never := func(string) string { return wantInvalid }
	tests := []struct {
		name   string
		params string
		want   func(version string) string
	}{
		{"text", params(textMsg), all},
		{"image", params(imageMsg), all},
		{"audio", params(audioMsg), since(Version20250326)},
		{"content array", params(arrayMsg), since(Version20251125)},
		{"assistant turn", params(textMsg, `{"role":"assistant","content":{"type":"text","text":"ok"}}`, textMsg), all},
		{"tools", `{"messages":[` + textMsg + `],"maxTokens":10,"tools":[` + weatherTool + `]}`, since(Version20251125)},
		{"tool choice", `{"messages":[` + textMsg + `],"maxTokens":10,"tools":[` + weatherTool + `],"toolChoice":{"mode":"required"}}`, since(Version20251125)},
		{"tool loop", params(textMsg, toolUseMsg, toolResMsg), since(Version20251125)},
		{"tool_use unanswered", params(textMsg, toolUseMsg), never},
		{"tool_use answered late", params(textMsg, toolUseMsg, textMsg, toolResMsg), never},
		{"tool_result without tool_use", params(textMsg, toolResMsg), never},
		{"tool_result mixed with text", params(textMsg, toolUseMsg,
			`{"role":"user","content":[{"type":"tool_result","toolUseId":"t1","content":[]},{"type":"text","text":"x"}]}`), never},
		{"tool_use from user", params(`{"role":"user","content":[{"type":"tool_use","id":"t1","name":"n","input":{}}]}`), never},
		{"tool_use input not object", params(textMsg, `{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"n","input":[1]}]}`, toolResMsg), never},
		{"resource_link in tool_result", params(textMsg, toolUseMsg,
			`{"role":"user","content":[{"type":"tool_result","toolUseId":"t1","content":[{"type":"resource_link","uri":"file:///a","name":"a"}]}]}`), since(Version20251125)},
		{"resource_link at top level", params(`{"role":"user","content":{"type":"resource_link","uri":"file:///a","name":"a"}}`), never},
		{"structuredContent array", params(textMsg, toolUseMsg,
			`{"role":"user","content":[{"type":"tool_result","toolUseId":"t1","content":[],"structuredContent":[1,2]}]}`), since(Version20260728)},
		{"zero temperature and priorities", `{"messages":[` + textMsg + `],"maxTokens":1,"temperature":0,"modelPreferences":{"costPriority":0,"speedPriority":0,"intelligencePriority":1}}`, all},
		{"unknown fields tolerated", `{"messages":[{"role":"user","content":{"type":"text","text":"hi","x-extra":1},"extra":true}],"maxTokens":5,"vendorThing":{"a":1}}`, all},
		{"maxTokens as integral float", `{"messages":[` + textMsg + `],"maxTokens":100.0}`, all},
		{"maxTokens missing", `{"messages":[` + textMsg + `]}`, never},
		{"maxTokens zero", `{"messages":[` + textMsg + `],"maxTokens":0}`, never},
		{"maxTokens negative", `{"messages":[` + textMsg + `],"maxTokens":-5}`, never},
		{"maxTokens fractional", `{"messages":[` + textMsg + `],"maxTokens":1.5}`, never},
		{"maxTokens string", `{"messages":[` + textMsg + `],"maxTokens":"100"}`, never},
		{"maxTokens huge", `{"messages":[` + textMsg + `],"maxTokens":1e300}`, never},
		{"no messages", `{"messages":[],"maxTokens":10}`, never},
		{"bad role", params(`{"role":"system","content":{"type":"text","text":"x"}}`), never},
		{"unknown content type", params(`{"role":"user","content":{"type":"video","data":"x"}}`), never},
		{"missing content type", params(`{"role":"user","content":{"text":"x"}}`), never},
		{"empty content array", params(`{"role":"user","content":[]}`), never},
		{"image bad base64", params(`{"role":"user","content":{"type":"image","data":"!!!","mimeType":"image/png"}}`), never},
		{"image no mime", params(`{"role":"user","content":{"type":"image","data":"aGVsbG8="}}`), never},
		{"priority above 1", `{"messages":[` + textMsg + `],"maxTokens":1,"modelPreferences":{"speedPriority":1.5}}`, never},
		{"priority below 0", `{"messages":[` + textMsg + `],"maxTokens":1,"modelPreferences":{"costPriority":-0.1}}`, never},
		{"temperature negative", `{"messages":[` + textMsg + `],"maxTokens":1,"temperature":-1}`, never},
		{"bad includeContext", `{"messages":[` + textMsg + `],"maxTokens":1,"includeContext":"everything"}`, never},
		{"includeContext thisServer is schema-valid", `{"messages":[` + textMsg + `],"maxTokens":1,"includeContext":"thisServer"}`, all},
		{"metadata not object", `{"messages":[` + textMsg + `],"maxTokens":1,"metadata":[1]}`, never},
		{"tool without schema", `{"messages":[` + textMsg + `],"maxTokens":1,"tools":[{"name":"x"}]}`, never},
		{"tool schema not object type", `{"messages":[` + textMsg + `],"maxTokens":1,"tools":[{"name":"x","inputSchema":{"type":"array"}}]}`, never},
		{"duplicate tool names", `{"messages":[` + textMsg + `],"maxTokens":1,"tools":[` + weatherTool + `,` + weatherTool + `]}`, never},
		{"bad tool choice", `{"messages":[` + textMsg + `],"maxTokens":1,"tools":[` + weatherTool + `],"toolChoice":{"mode":"always"}}`, never},
		{"messages wrong type", `{"messages":"hi","maxTokens":1}`, never},
		{"content wrong type", params(`{"role":"user","content":"hi"}`), never},
	}
	for _, tc := range tests {
		for _, v := range Versions {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				got := reasonOf(decodeAndValidate(req(tc.params), v))
				if want := tc.want(v); got != want {
					t.Errorf("reason = %q, want %q", got, want)
				}
			})
		}
	}
}

func decodeAndValidate(body []byte, version string) error {
	r, _, err := DecodeRequest(body, version, Limits{})
	if err != nil {
		return err
	}
	return Validate(&r.Params, version, Limits{})
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	return string(AsError(err).Reason)
}

func TestDecodeHostile(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	many := make([]string, 300)
	for i := range many {
		many[i] = textMsg
	}
	parts := make([]string, 70)
	for i := range parts {
		parts[i] = `{"type":"text","text":"x"}`
	}
	tests := []struct {
		name     string
		body     string
		version  string
		reason   string
		code     int
		idOnWire string
	}{
		{"not json", `{"jsonrpc":`, "", "parse_error", CodeParseError, ""},
		{"invalid utf-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\",\"params\":{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"\xff\xfe\"}}],\"maxTokens\":1}}", "", "parse_error", CodeParseError, ""},
		{"array body", `[1,2]`, "", "invalid_request", CodeInvalidRequest, ""},
		{"deep nesting", `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"x":` + deep + `}}`, "", "request_too_large", CodeInvalidRequest, ""},
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":1,"method":"sampling/createMessage","params":{}}`, "", "invalid_request", CodeInvalidRequest, "1"},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"sampling/createMessage","params":{}}`, "", "invalid_request", CodeInvalidRequest, ""},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"sampling/createMessage","params":{}}`, "", "invalid_request", CodeInvalidRequest, ""},
		{"other method", `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}`, "", "method_not_found", CodeMethodNotFound, `"a"`},
		{"params not object", `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":[]}`, "", "invalid_request", CodeInvalidParams, "1"},
		{"params missing", `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}`, "", "invalid_request", CodeInvalidParams, "1"},
		{"unknown version", string(req(params(textMsg))), "1999-01-01", "unsupported_version", CodeInvalidRequest, "7"},
		{"too many messages", string(req(params(many...))), "", "request_too_large", CodeInvalidRequest, "7"},
		{"too many parts", string(req(params(`{"role":"user","content":[` + strings.Join(parts, ",") + `]}`))), "", "request_too_large", CodeInvalidRequest, "7"},
		{"oversized body", `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"systemPrompt":"` + strings.Repeat("a", 1<<20) + `"}}`, "", "request_too_large", CodeInvalidRequest, ""},
		{"type confusion in role", string(req(`{"messages":[{"role":5,"content":{"type":"text","text":"x"}}],"maxTokens":1}`)), "", "invalid_request", CodeInvalidParams, "7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.version
			if v == "" {
				v = LatestVersion
			}
			r, id, err := DecodeRequest([]byte(tc.body), v, Limits{})
			if err == nil {
				err = Validate(&r.Params, v, Limits{})
				id = r.ID
			}
			if err == nil {
				t.Fatal("accepted hostile input")
			}
			e := AsError(err)
			if string(e.Reason) != tc.reason || e.RPCCode() != tc.code {
				t.Errorf("got reason %s code %d, want %s code %d (%v)", e.Reason, e.RPCCode(), tc.reason, tc.code, err)
			}
			if string(id) != tc.idOnWire {
				t.Errorf("id = %s, want %s", id, tc.idOnWire)
			}
			if e.Reason.HTTPStatus() >= 500 {
				t.Errorf("hostile input answered with %d", e.Reason.HTTPStatus())
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	body := req(`{"messages":[{"role":"robot","content":{"type":"video"}}],"modelPreferences":{"costPriority":2},"includeContext":"x"}`)
	err := decodeAndValidate(body, LatestVersion)
	msg := AsError(err).Msg
	for _, want := range []string{"maxTokens is required", "role", "unknown content type", "costPriority", "includeContext"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestErrorMessagesDoNotEchoValues(t *testing.T) {
	secret := "sk-proj-SECRETSECRETSECRET"
	bodies := []string{
		`{"messages":[{"role":"` + secret + `","content":{"type":"text","text":"x"}}],"maxTokens":1}`,
		`{"messages":[{"role":"user","content":{"type":"` + secret + `"}}],"maxTokens":1}`,
		`{"messages":[` + textMsg + `],"maxTokens":"` + secret + `"}`,
		`{"messages":[` + textMsg + `],"maxTokens":1,"includeContext":"` + secret + `"}`,
		`{"messages":[` + textMsg + `],"maxTokens":1,"temperature":"` + secret + `"}`,
	}
	for i, b := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			err := decodeAndValidate(req(b), LatestVersion)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(AsError(err).Msg, "SECRET") {
				t.Errorf("message echoes the value: %q", AsError(err).Msg)
			}
		})
	}
}
