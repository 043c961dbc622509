package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"
)

// wireParams is a wide set of sampling params, for the differential tests:
// every block type in every place, the edge values of each field, and
// strings that need escaping.
func wireParams() map[string]broker.CreateMessageParams {
	const nasty = "<b>\"quoted\" & 'single'</b>\\ \x00\x01\x1f\b\f\n\r\t \u2028\u2029 é 中文 🙂 \xff\xfe bad \xe2\x80 cut"
	long := strings.Repeat("plain ascii run, ", 40) + nasty + strings.Repeat("x", 17)
	img := broker.Content{Type: broker.ContentImage, Data: "iVBORw0KGgo=", MIMEType: "image/png"}
	weather := broker.Tool{
		Name: "get_weather", Description: "Weather for a <city> & region",
		InputSchema: json.RawMessage(`{ "type": "object",
			"properties": {"city": {"type": "string", "description": "<name> & \u2028 \\u003c"}},
			"required": ["city"] }`),
	}
	call := func(id, name, input string) broker.Content {
		return broker.Content{Type: broker.ContentToolUse, ID: id, Name: name, Input: json.RawMessage(input)}
	}
	result := func(id string, blocks ...broker.Content) broker.Content {
		return broker.Content{Type: broker.ContentToolResult, ToolUseID: id, Content: blocks}
	}
	msgs := func(m ...broker.SamplingMessage) []broker.SamplingMessage { return m }
	p := map[string]broker.CreateMessageParams{
		"minimal":          {Messages: msgs(user(text("Hi"))), MaxTokens: 100},
		"no max tokens":    {Messages: msgs(user(text("Hi")))},
		"huge max tokens":  {Messages: msgs(user(text("Hi"))), MaxTokens: 1 << 40},
		"empty text":       {Messages: msgs(user(text(""))), MaxTokens: 1},
		"no messages":      {SystemPrompt: "alone", MaxTokens: 1},
		"nothing":          {},
		"escaping":         {SystemPrompt: nasty, Messages: msgs(user(text(nasty)), assistant(text(long))), StopSequences: []string{nasty}, MaxTokens: 5},
		"long":             {Messages: msgs(user(text(strings.Repeat(long, 20)))), MaxTokens: 5},
		"unknown role":     {Messages: msgs(broker.SamplingMessage{Role: "narrator", Content: []broker.Content{text("once")}}), MaxTokens: 5},
		"empty message":    {Messages: msgs(user(), assistant(), user(text("x"))), MaxTokens: 5},
		"system and turns": {SystemPrompt: "Be brief.", Messages: msgs(user(text("Hi")), assistant(text("Hello")), user(text("Bye"))), MaxTokens: 50},
		"stops":            {Messages: msgs(user(text("Hi"))), StopSequences: []string{"END", "\n\n", "<|eot_id|>", ""}, MaxTokens: 5},
		"empty stops":      {Messages: msgs(user(text("Hi"))), StopSequences: []string{}, MaxTokens: 5},
		"image and text":   {Messages: msgs(user(text("What is this?"), img), assistant(text("A"), text("B"))), MaxTokens: 10},
		"image only":       {Messages: msgs(user(img)), MaxTokens: 10},
		"odd image":        {Messages: msgs(user(broker.Content{Type: broker.ContentImage, MIMEType: "image/<x>&\xff", Data: "\u2028"})), MaxTokens: 10},
		"empty parts":      {Messages: msgs(user(text(""), text(""), img)), MaxTokens: 10},
		"tool round trip": {
			MaxTokens: 10, Tools: []broker.Tool{weather}, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceRequired},
			Messages: msgs(
				user(text("Weather in Paris and Lyon?")),
				assistant(text("Let me check."), call("call_1", "get_weather", `{"city":"Paris"}`), call("call_2", "get_weather", `{"city": "Lyon <&>"}`)),
				user(result("call_1", text("18°C"), text("sunny")), result("call_2", text(nasty))),
			),
		},
		"tool calls only":       {Messages: msgs(assistant(call("c", "f", `{}`))), MaxTokens: 1},
		"tool call edge values": {Messages: msgs(assistant(call("", "", ""), call("id", "", " "), call("", "n", `[1,2]`))), MaxTokens: 1},
		"tool results": {
			MaxTokens: 1,
			Messages: msgs(user(
				result("a"),
				result("b", text("")),
				result("c", text(""), text("")),
				result("", text("x")),
				broker.Content{Type: broker.ContentToolResult, ToolUseID: "d", StructuredContent: json.RawMessage(`{"t": "<17>"}`)},
				broker.Content{Type: broker.ContentToolResult, ToolUseID: "e", StructuredContent: json.RawMessage(`{"t":1}`), Content: []broker.Content{text("wins")}},
				result("f", broker.Content{Type: broker.ContentResourceLink, URI: "file:///a&b"}, broker.Content{Type: broker.ContentResource, Resource: json.RawMessage(`{"uri":"x","text":"y"}`)}),
				result("g", broker.Content{Type: broker.ContentResourceLink}),
			)),
		},
		"results around text": {Messages: msgs(user(result("a", text("1")), text("between"), result("b", text("2")))), MaxTokens: 1},
		"temperature zero":    {Messages: msgs(user(text("Hi"))), Temperature: ptr(0.0), MaxTokens: 1},
		"temperature -0":      {Messages: msgs(user(text("Hi"))), Temperature: ptr(math.Copysign(0, -1)), MaxTokens: 1},
		"temperature 0.7":     {Messages: msgs(user(text("Hi"))), Temperature: ptr(0.7), MaxTokens: 1},
		"temperature 0.1":     {Messages: msgs(user(text("Hi"))), Temperature: ptr(0.1), MaxTokens: 1},
		"temperature 1":       {Messages: msgs(user(text("Hi"))), Temperature: ptr(1.0), MaxTokens: 1},
		"temperature 2":       {Messages: msgs(user(text("Hi"))), Temperature: ptr(2.0), MaxTokens: 1},
		"temperature 1e-7":    {Messages: msgs(user(text("Hi"))), Temperature: ptr(1e-7), MaxTokens: 1},
		"temperature 1e-50":   {Messages: msgs(user(text("Hi"))), Temperature: ptr(1e-50), MaxTokens: 1},
		"temperature 3e21":    {Messages: msgs(user(text("Hi"))), Temperature: ptr(3e21), MaxTokens: 1},
		"temperature 1e300":   {Messages: msgs(user(text("Hi"))), Temperature: ptr(1e300), MaxTokens: 1},
		"tools without schema": {
			Messages: msgs(user(text("Hi"))), MaxTokens: 1, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceAuto},
			Tools: []broker.Tool{{Name: "a"}, {Name: "b", Title: "Title only"}, {Name: "", Description: "d", Title: "t"}, {Name: "n", InputSchema: json.RawMessage(`null`)}},
		},
		"invalid schema":        {Messages: msgs(user(text("Hi"))), MaxTokens: 1, Tools: []broker.Tool{{Name: "a", InputSchema: json.RawMessage(`{"type":`)}}},
		"tool choice none":      {Messages: msgs(user(text("Hi"))), MaxTokens: 1, Tools: []broker.Tool{weather}, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceNone}},
		"empty tool choice":     {Messages: msgs(user(text("Hi"))), MaxTokens: 1, Tools: []broker.Tool{weather}, ToolChoice: &broker.ToolChoice{}},
		"tool choice, no tools": {Messages: msgs(user(text("Hi"))), MaxTokens: 1, ToolChoice: &broker.ToolChoice{Mode: broker.ToolChoiceRequired}},
		// Content the chat API cannot take.
		"audio":                  {Messages: msgs(user(text("a"), broker.Content{Type: broker.ContentAudio, Data: "UklGRg==", MIMEType: "audio/wav"})), MaxTokens: 1},
		"assistant image":        {Messages: msgs(user(text("a")), assistant(img)), MaxTokens: 1},
		"user tool call":         {Messages: msgs(user(call("c", "f", `{}`))), MaxTokens: 1},
		"assistant tool result":  {Messages: msgs(assistant(result("c", text("x")))), MaxTokens: 1},
		"image in a tool result": {Messages: msgs(user(result("c", text("x"), img))), MaxTokens: 1},
		"unknown block":          {Messages: msgs(user(text("a"), broker.Content{Type: "video"})), MaxTokens: 1},
		"error after results":    {Messages: msgs(user(result("c", text("x")), broker.Content{Type: broker.ContentAudio})), MaxTokens: 1},
	}
	many := broker.CreateMessageParams{MaxTokens: 9, Temperature: ptr(0.0), SystemPrompt: "sys", StopSequences: []string{"a", "b"}}
	for i := range 20 {
		many.Messages = append(many.Messages, user(text(fmt.Sprint("question ", i, nasty))), assistant(text(fmt.Sprint("answer ", i))))
		many.Tools = append(many.Tools, broker.Tool{Name: fmt.Sprint("tool_", i), InputSchema: weather.InputSchema})
	}
	p["many"] = many
	return p
}

// wireTargets are the models and configurations the params are sent with.
func wireTargets() map[string]struct {
	model string
	cfg   OpenAIConfig
} {
	type target = struct {
		model string
		cfg   OpenAIConfig
	}
	azure := OpenAIConfig{Kind: "azure", BaseURL: "https://example.openai.azure.com/", APIVersion: "2024-10-21"}
	return map[string]target{
		"openai":                         {"gpt-4o-mini", OpenAIConfig{BaseURL: "https://api.example.com/v1"}},
		"openai, trailing slash":         {"gpt-4o-mini", OpenAIConfig{BaseURL: "http://localhost:8000/v1/"}},
		"reasoning model":                {"gpt-5-mini", OpenAIConfig{}},
		"o1":                             {"o1", OpenAIConfig{}},
		"o3-mini":                        {"o3-mini", OpenAIConfig{}},
		"gpt-6":                          {openai.GPT6Sol, OpenAIConfig{}},
		"gpt-6 astra":                    {openai.GPT6Astra, OpenAIConfig{}},
		"max_tokens forced on reasoning": {"o4-mini", OpenAIConfig{MaxTokensField: MaxTokens}},
		"max_completion_tokens":          {"llama3", OpenAIConfig{MaxTokensField: MaxCompletionTokens}},
		"legacy completion model":        {openai.GPT3TextDavinci003, OpenAIConfig{}},
		"odd model name":                 {"org/model:<v1> \"x\"", OpenAIConfig{}},
		"azure":                          {"gpt-4o-mini", azure},
		"azure 3.5":                      {"gpt-3.5-turbo:0125", azure},
		"azure colon":                    {"llama3:8b", azure},
		"azure empty":                    {"", azure},
		"azure path in model":            {"a/../../x?y=1#z", azure},
		"azure space in model":           {"my deployment", azure},
	}
}

// TestOpenAIWireMatchesGoOpenAI checks that the request Complete sends is
// byte for byte the one go-openai sent, with the same URL, and that it
// refuses what go-openai refused to send.
func TestOpenAIWireMatchesGoOpenAI(t *testing.T) {
	for tname, target := range wireTargets() {
		o, err := NewOpenAI(target.cfg, staticKeys(testKey))
		if err != nil {
			t.Fatal(err)
		}
		for pname, params := range wireParams() {
			t.Run(tname+"/"+pname, func(t *testing.T) {
				call := &broker.Call{Model: broker.Model{Name: "m", Upstream: target.model}, Params: &params}
				compareWire(t, o, call)
			})
		}
	}
}

// compareWire checks what the provider and go-openai make of call.
func compareWire(t *testing.T, o *OpenAI, call *broker.Call) {
	t.Helper()
	want, wantErr := legacySend(o, call)
	r, err := o.newChatRequest(call)
	if wantErr != nil || err != nil {
		if wantErr == nil || err == nil || broker.ErrorReason(err) != broker.ErrorReason(wantErr) || err.Error() != wantErr.Error() {
			t.Fatalf("translation error %v, go-openai's %v", err, wantErr)
		}
		return
	}
	if (want.Refused != nil) != (r.refusal != nil) {
		t.Fatalf("refusal %v, go-openai's %v", r.refusal, want.Refused)
	}
	if want.Refused != nil {
		return // the causes' wording may differ; the caller sees neither
	}
	// Compared as the request will carry it: parsed, as go-openai's was.
	if u, err := url.Parse(r.url); err != nil || u.String() != want.URL {
		t.Errorf("URL %q (%v), go-openai's %q", r.url, err, want.URL)
	}
	if !bytes.Equal(r.body.b, want.Body) {
		var got, wantAny any
		errGot, errWant := json.Unmarshal(r.body.b, &got), json.Unmarshal(want.Body, &wantAny)
		t.Errorf("body differs from go-openai's (JSON errors %v, %v); semantic diff (-go-openai +direct):\n%s\ngot:  %s\nwant: %s",
			errGot, errWant, cmp.Diff(wantAny, got), r.body.b, want.Body)
	}
}

// FuzzOpenAIWire compares the direct encoder with go-openai on arbitrary
// strings and numbers.
//
//	go test ./providers -run '^$' -fuzz FuzzOpenAIWire -fuzztime 60s
func FuzzOpenAIWire(f *testing.F) {
	f.Add("sys", "hello", "END", "tool", []byte(`{"type":"object"}`), "{}", 0.0, int64(100), "gpt-4o-mini", false)
	f.Add("", "<&>\u2028\xff", "", "", []byte(` { "a" : [1, 2] } `), "", 0.7, int64(0), "o3", true)
	f.Add("\x00\b\f", strings.Repeat("abcdefgh", 5)+"\"", "\n", "n", []byte(`{`), " ", 1e-7, int64(-1), "gpt-3.5-turbo", true)
	f.Fuzz(func(t *testing.T, system, body, stop, tool string, schema []byte, args string, temp float64, maxTokens int64, model string, azure bool) {
		cfg := OpenAIConfig{}
		if azure {
			cfg = OpenAIConfig{Kind: "azure", BaseURL: "https://example.openai.azure.com", APIVersion: "2024-10-21"}
		}
		o, err := NewOpenAI(cfg, staticKeys(testKey))
		if err != nil {
			t.Fatal(err)
		}
		p := broker.CreateMessageParams{
			SystemPrompt: system, MaxTokens: maxTokens, StopSequences: []string{stop, body},
			Messages: []broker.SamplingMessage{
				user(text(body), broker.Content{Type: broker.ContentImage, MIMEType: stop, Data: body}),
				assistant(text(system), broker.Content{Type: broker.ContentToolUse, ID: stop, Name: tool, Input: json.RawMessage(args)}),
				user(broker.Content{Type: broker.ContentToolResult, ToolUseID: stop, Content: []broker.Content{text(body), {Type: broker.ContentResource, Resource: json.RawMessage(args)}}}),
				user(text(stop)),
			},
		}
		if !math.IsNaN(temp) {
			p.Temperature = &temp
		}
		if tool != "" {
			p.Tools = []broker.Tool{{Name: tool, Description: body, InputSchema: schema}}
			p.ToolChoice = &broker.ToolChoice{Mode: stop}
		}
		compareWire(t, o, &broker.Call{Model: broker.Model{Upstream: model}, Params: &p})
	})
}

func TestAppendJSONFloat32(t *testing.T) {
	for _, f := range []float32{0.7, 0.1, 1, 2, 1e-7, 1e-6, 9.99e-7, 1e20, 1e21, 3.4e38, -0.5, 1.0000001, 123456789, math.SmallestNonzeroFloat32} {
		want, _ := json.Marshal(f)
		got, err := appendJSONFloat32(nil, f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, %v; want %s", f, got, err, want)
		}
	}
	for _, f := range []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
		if _, err := appendJSONFloat32(nil, f); err == nil {
			t.Errorf("%v: no error", f)
		}
	}
}

// wireAnswers are 2xx answers, standard and not, for the decoding
// differential test.
func wireAnswers() map[string]string {
	weatherCall := `{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},` +
		`{"id":"","type":"function","function":{"name":"now","arguments":""}}],"refusal":null}`
	withChoice := func(field string) string {
		return strings.Replace(chatJSON(helloMessage, "stop"), `"finish_reason"`, field+`,"finish_reason"`, 1)
	}
	withTop := func(field string) string {
		return strings.Replace(chatJSON(helloMessage, "stop"), `"usage"`, field+`,"usage"`, 1)
	}
	return map[string]string{
		"stop":                 chatJSON(helloMessage, "stop"),
		"length":               chatJSON(helloMessage, "length"),
		"content filter":       chatJSON(helloMessage, "content_filter"),
		"unknown reason":       chatJSON(helloMessage, "eos_token"),
		"null reason":          strings.Replace(chatJSON(helloMessage, "stop"), `"stop"`, `null`, 1),
		"tool calls":           chatJSON(weatherCall, "tool_calls"),
		"tool calls with stop": chatJSON(strings.Replace(weatherCall, "null", `"Checking."`, 1), "stop"),
		"function call":        chatJSON(helloMessage, "function_call"),
		"args not an object":   chatJSON(strings.Replace(weatherCall, `{\"city\":\"Paris\"}`, `[1]`, 1), "tool_calls"),
		"args not JSON":        chatJSON(strings.Replace(weatherCall, `{\"city\":\"Paris\"}`, `{city`, 1), "tool_calls"),
		"args null":            chatJSON(strings.Replace(weatherCall, `{\"city\":\"Paris\"}`, `null`, 1), "tool_calls"),
		"vLLM stop string":     withChoice(`"stop_reason":"END"`),
		"vLLM stop token":      withChoice(`"stop_reason":128009`),
		"vLLM empty stop":      withChoice(`"stop_reason":""`),
		"vLLM null stop":       withChoice(`"stop_reason":null`),
		"vLLM escaped stop":    withChoice(`"stop_reason":"\u0000"`),
		"vLLM object stop":     withChoice(`"stop_reason":{"a":"b"}`),
		"llama.cpp word":       withTop(`"stopping_word":"END"`),
		"llama.cpp no word":    withTop(`"stopping_word":""`),
		"llama.cpp in choice":  withChoice(`"stopping_word":"END"`),
		"cached tokens":        strings.Replace(chatJSON(helloMessage, "stop"), `"cached_tokens":0`, `"cached_tokens":12`, 1),
		"no details":           strings.Replace(chatJSON(helloMessage, "stop"), `"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},`, ``, 1),
		"null details":         strings.Replace(chatJSON(helloMessage, "stop"), `{"cached_tokens":0,"audio_tokens":0}`, `null`, 1),
		"no usage":             `{"choices":[{"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]}`,
		"null usage":           `{"choices":[{"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":null}`,
		"refusal":              chatJSON(`{"role":"assistant","content":null,"refusal":"I can't help with that."}`, "stop"),
		"refusal and content":  chatJSON(`{"role":"assistant","content":"ok","refusal":"no"}`, "stop"),
		"empty content":        chatJSON(`{"role":"assistant","content":""}`, "stop"),
		"no message":           `{"choices":[{"finish_reason":"stop"}]}`,
		"null choice":          `{"choices":[null]}`,
		"parts":                chatJSON(`{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"},{"type":"image_url","image_url":{"url":"x"}}]}`, "stop"),
		"null part":            chatJSON(`{"role":"assistant","content":[null,{"text":"a"}]}`, "stop"),
		"part text a number":   chatJSON(`{"role":"assistant","content":[{"type":"text","text":5}]}`, "stop"),
		"part a string":        chatJSON(`{"role":"assistant","content":["a"]}`, "stop"),
		"content an object":    chatJSON(`{"role":"assistant","content":{"text":"a"}}`, "stop"),
		"content a number":     chatJSON(`{"role":"assistant","content":5}`, "stop"),
		"escapes":              chatJSON(`{"role":"assistant","content":"a\"b\\c\u00e9\ud83d\ude42\n<>&"}`, "stop"),
		"two choices":          `{"choices":[{"message":{"content":"one"},"finish_reason":"stop"},{"message":{"content":"two"},"finish_reason":"length"}]}`,
		"no choices":           `{"id":"x","object":"chat.completion","choices":[]}`,
		"null choices":         `{"choices":null}`,
		"empty object":         `{}`,
		"not JSON":             `<html>Bad Gateway</html>`,
		"empty":                ``,
		"truncated":            chatJSON(helloMessage, "stop")[:100],
		"trailing garbage":     chatJSON(helloMessage, "stop") + "\n<html>",
		"trailing value":       chatJSON(helloMessage, "stop") + `{"choices":[]}`,
		"leading space":        "\n\t " + chatJSON(helloMessage, "stop"),
		"array":                `[1,2]`,
		"null":                 `null`,
		"prompt tokens float":  strings.Replace(chatJSON(helloMessage, "stop"), `"prompt_tokens":19`, `"prompt_tokens":19.5`, 1),
		"prompt tokens string": strings.Replace(chatJSON(helloMessage, "stop"), `"prompt_tokens":19`, `"prompt_tokens":"19"`, 1),
		"tool call id number":  chatJSON(strings.Replace(weatherCall, `"id":"call_abc"`, `"id":7`, 1), "tool_calls"),
		"finish reason number": strings.Replace(chatJSON(helloMessage, "stop"), `"stop"`, `7`, 1),
		"refusal number":       chatJSON(`{"role":"assistant","content":"x","refusal":1}`, "stop"),
		"choices an object":    `{"choices":{}}`,
		"upper-case keys":      `{"Choices":[{"Message":{"Content":"x"},"Finish_Reason":"length"}],"Usage":{"Prompt_Tokens":3}}`,
	}
}

// lenient lists answers the old path refused for a type error in a field
// the broker never reads, or misread, and the minimal decoder accepts.
var lenient = map[string]bool{
	// created is a number in go-openai's struct; role a string.
	"unused field of the wrong type": true,
	// The old stop-string check ran json.Unmarshal on the whole body, which
	// failed on trailing data that go-openai's decoder ignored.
	"trailing garbage, stop string": true,
}

// TestOpenAIDecodeMatchesGoOpenAI checks that the minimal decoder makes of
// each answer what go-openai's decoding and the old fill made of it.
func TestOpenAIDecodeMatchesGoOpenAI(t *testing.T) {
	answers := wireAnswers()
	answers["unused field of the wrong type"] = strings.Replace(chatJSON(helloMessage, "stop"), `"created":1741569952`, `"created":"yesterday"`, 1)
	answers["trailing garbage, stop string"] = strings.Replace(chatJSON(helloMessage, "stop"), `"finish_reason"`, `"stop_reason":"END","finish_reason"`, 1) + "<html>"
	o, err := NewOpenAI(OpenAIConfig{Name: "up"}, staticKeys(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range answers {
		for _, stops := range [][]string{nil, {"END"}} {
			t.Run(fmt.Sprint(name, "/stops=", len(stops)), func(t *testing.T) {
				p := &broker.CreateMessageParams{StopSequences: stops}
				want, wantErr := legacyDecode(o, []byte(body), p)
				got, err := newDecode(o, []byte(body), p)
				if lenient[name] {
					if err != nil {
						t.Fatalf("error %v; want it accepted", err)
					}
					if wantErr != nil || !cmp.Equal(want, got) {
						return // the known difference
					}
				}
				if (err != nil) != (wantErr != nil) || err != nil && (broker.AsError(err).Reason != broker.AsError(wantErr).Reason || broker.AsError(err).Msg != broker.AsError(wantErr).Msg) {
					t.Fatalf("error %v, go-openai's %v", err, wantErr)
				}
				if err == nil {
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("completion (-go-openai +minimal):\n%s", diff)
					}
				}
			})
		}
	}
}

func newDecode(o *OpenAI, body []byte, p *broker.CreateMessageParams) (*broker.Completion, error) {
	var r chatResponse
	if err := decodeChat(body, &r); err != nil {
		return nil, broker.Wrap(broker.ReasonProviderError, err, fmt.Sprintf("%s: upstream sent an invalid response", o.cfg.Name))
	}
	comp := &broker.Completion{}
	return comp, o.fill(comp, &r, p)
}

// TestOpenAIConnectionReuse checks that answers of every kind are read to
// their end, so that sequential calls share one connection.
func TestOpenAIConnectionReuse(t *testing.T) {
	answers := []struct {
		status int
		body   string
	}{
		{200, chatJSON(helloMessage, "stop")},
		{200, benchAnswer()},
		{400, apiError("bad", "invalid_request_error", "x")},
		{429, apiError("slow down", "rate_limit_error", "")},
		{500, "oops"},
		{200, strings.Replace(chatJSON(helloMessage, "stop"), "Hello!", strings.Repeat("long ", 4000), 1)},
		{404, ""},
		{200, `{"choices":[]}`},
	}
	var mu sync.Mutex
	conns := map[string]bool{} // client addresses
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, i int) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		a := answers[i%len(answers)]
		reply(w, a.status, a.body)
	})
	o, _ := newTestOpenAI(t, u, nil, func(c *OpenAIConfig) { c.MaxRetries = 0 })
	for range 3 * len(answers) {
		o.Complete(context.Background(), textCall("Hi"))
	}
	if len(conns) != 1 {
		t.Errorf("%d connections for %d calls, want 1", len(conns), 3*len(answers))
	}
}

// TestOpenAIBodyReuse sends different calls at once through one provider,
// over HTTP/1.1 and HTTP/2, cancelling some while their bodies may still be
// in flight: each request that arrives must arrive whole and intact.
func TestOpenAIBodyReuse(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprint("h2=", h2), func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]bool{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h2 != (r.ProtoMajor == 2) {
					t.Errorf("request over %s", r.Proto)
				}
				var body struct {
					Messages []struct{ Content string } `json:"messages"`
				}
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					if r.Context().Err() == nil {
						t.Errorf("request body: %v", err)
					}
					return
				}
				mu.Lock()
				seen[body.Messages[0].Content] = true
				mu.Unlock()
				ok(w, r, 0)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			o, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL + "/v1", HTTPClient: srv.Client(), MaxRetries: 0}, staticKeys(testKey))
			if err != nil {
				t.Fatal(err)
			}
			prompt := func(i int) string { return fmt.Sprint(i, strings.Repeat("x", i*997)) }
			const calls = 64
			var wg sync.WaitGroup
			for i := range calls {
				wg.Go(func() {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if i%4 == 0 {
						go cancel() // abandon this one, perhaps mid-body
					}
					_, err := o.Complete(ctx, textCall(prompt(i)))
					if err != nil && i%4 != 0 {
						t.Errorf("call %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			// Later calls must still arrive intact.
			for i := 1; i < calls; i += 4 {
				if _, err := o.Complete(context.Background(), textCall(prompt(i)+"again")); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i := range calls {
				if i%4 != 0 && !seen[prompt(i)] {
					t.Errorf("call %d's prompt did not arrive intact", i)
				}
				if i%4 == 1 && !seen[prompt(i)+"again"] {
					t.Errorf("call %d's second prompt did not arrive intact", i)
				}
			}
		})
	}
}

func TestReadCapped(t *testing.T) {
	for _, tt := range []struct {
		body        string
		limit, size int64
		wantErr     error
	}{
		{"", 10, 0, nil},
		{"0123456789", 10, 10, nil},
		{"0123456789", 10, -1, nil},
		{"0123456789x", 10, -1, errOverLimit},
		{"0123456789x", 10, 11, errOverLimit},
		{strings.Repeat("y", 5000), 1 << 20, -1, nil},
	} {
		got, err := readCapped(make([]byte, 3, 4), strings.NewReader(tt.body), tt.limit, tt.size)
		want := tt.body
		if tt.wantErr != nil {
			want = tt.body[:tt.limit+1]
		}
		if err != tt.wantErr || string(got) != want {
			t.Errorf("readCapped(%d bytes, %d) = %d bytes, %v; want %d, %v", len(tt.body), tt.limit, len(got), err, len(want), tt.wantErr)
		}
	}
}

// FuzzOpenAIDecode checks that whatever answer go-openai's path accepted,
// the minimal decoder accepts and reads the same way.
//
//	go test ./providers -run '^$' -fuzz FuzzOpenAIDecode -fuzztime 60s
func FuzzOpenAIDecode(f *testing.F) {
	for _, body := range wireAnswers() {
		f.Add([]byte(body), false)
	}
	o, err := NewOpenAI(OpenAIConfig{Name: "up"}, staticKeys(testKey))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, stops bool) {
		if !json.Valid(body) {
			return // trailing data: the old stop-string check misread it
		}
		p := &broker.CreateMessageParams{}
		if stops {
			p.StopSequences = []string{"END"}
		}
		want, wantErr := legacyDecode(o, body, p)
		if wantErr != nil {
			return // the minimal decoder may accept what go-openai refused
		}
		got, err := newDecode(o, body, p)
		if err != nil {
			t.Fatalf("error %v for an answer go-openai's path took as %+v", err, want)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("completion (-go-openai +minimal):\n%s", diff)
		}
	})
}
