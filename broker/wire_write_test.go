package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// BenchmarkMarshalResult measures the JSON-RPC reply as http.go writes it,
// and as it was written before wireWriter (reference), in the same run.
func BenchmarkMarshalResult(b *testing.B) {
	for _, s := range benchSizes[:2] {
		res := CreateMessageResult{Role: RoleAssistant, Content: []Content{TextContent(benchText(s.size, 1))}, Model: "claude-3-5-sonnet", StopReason: StopEndTurn}
		for _, v := range []struct {
			name   string
			result any
		}{{"", &res}, {"/reference", refResult(res)}} {
			resp := rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("42"), Result: v.result}
			b.Run(fmt.Sprintf("size=%s%s", s.name, v.name), func(b *testing.B) {
				b.SetBytes(int64(s.size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := json.Marshal(resp); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// The encoders as they were before wireWriter, through encoding/json: the
// reference the one-pass writer must match byte for byte.

// refContent is Content with nested blocks of its own type, so that they
// too are written the old way; TestRefContentFields keeps it in step.
type refContent struct {
	Type              string          `json:"type"`
	Text              string          `json:"text,omitempty"`
	Data              string          `json:"data,omitempty"`
	MIMEType          string          `json:"mimeType,omitempty"`
	ID                string          `json:"id,omitempty"`
	Name              string          `json:"name,omitempty"`
	Input             json.RawMessage `json:"input,omitempty"`
	ToolUseID         string          `json:"toolUseId,omitempty"`
	Content           []refContent    `json:"content,omitempty"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           *bool           `json:"isError,omitempty"`
	URI               string          `json:"uri,omitempty"`
	Resource          json.RawMessage `json:"resource,omitempty"`
	Annotations       json.RawMessage `json:"annotations,omitempty"`
	Meta              json.RawMessage `json:"_meta,omitempty"`
}

// MarshalJSON is Content.MarshalJSON as it was.
func (c refContent) MarshalJSON() ([]byte, error) {
	type alias refContent
	w := struct {
		alias
		Text *string `json:"text,omitempty"`
	}{alias: alias(c)}
	if c.Type == ContentText || c.Text != "" {
		w.Text = &c.Text
	}
	return json.Marshal(w)
}

func refContents(blocks []Content) []refContent {
	if blocks == nil {
		return nil
	}
	r := make([]refContent, len(blocks))
	for i, c := range blocks {
		r[i] = refContent{c.Type, c.Text, c.Data, c.MIMEType, c.ID, c.Name, c.Input, c.ToolUseID, refContents(c.Content),
			c.StructuredContent, c.IsError, c.URI, c.Resource, c.Annotations, c.Meta}
	}
	return r
}

func refEncodeContent(blocks []Content, asArray bool) (json.RawMessage, error) {
	if len(blocks) == 1 && !asArray {
		return json.Marshal(refContents(blocks)[0])
	}
	if blocks == nil {
		blocks = []Content{}
	}
	return json.Marshal(refContents(blocks))
}

func refMessageJSON(m SamplingMessage) ([]byte, error) {
	c, err := refEncodeContent(m.Content, m.contentArray)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireMessage{Role: m.Role, Content: c, Meta: m.Meta})
}

func refResultJSON(r CreateMessageResult) ([]byte, error) {
	c, err := refEncodeContent(r.Content, false)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireResult{Role: r.Role, Content: c, Model: r.Model, StopReason: r.StopReason, Meta: r.Meta})
}

func TestRefContentFields(t *testing.T) {
	a, b := reflect.TypeFor[Content](), reflect.TypeFor[refContent]()
	if a.NumField() != b.NumField() {
		t.Fatalf("Content has %d fields, refContent %d", a.NumField(), b.NumField())
	}
	for i := 0; i < a.NumField(); i++ {
		if fa, fb := a.Field(i), b.Field(i); fa.Name != fb.Name || fa.Tag != fb.Tag {
			t.Errorf("field %d: Content has %s %q, refContent %s %q", i, fa.Name, fa.Tag, fb.Name, fb.Tag)
		}
	}
}

// marshalCases are values whose JSON the writer must produce exactly as the
// reference does.
func marshalCases() []CreateMessageResult {
	yes, no := true, false
	tricky := "<script>&amp;</script> \"quoted\" back\\slash \b\f\n\r\t \x00\x01\x1f\x7f é 日本 \U0001F600 \u2028\u2029 \xff\xfe bad \xe2\x80 end"
	return []CreateMessageResult{
		{Role: RoleAssistant, Content: []Content{TextContent("hi")}, Model: "m", StopReason: StopEndTurn},
		{Role: RoleAssistant, Content: []Content{TextContent("")}, Model: "m"},
		{Content: nil},
		{Content: []Content{}},
		{Content: []Content{{}}},
		{Content: []Content{{Type: ContentImage, Data: "aGVsbG8=", MIMEType: "image/png"}}},
		{Content: []Content{{Type: "weird", Text: "not a text block"}}},
		{Role: RoleAssistant, Content: []Content{TextContent(tricky), TextContent("b")}, Model: tricky, StopReason: tricky, Meta: json.RawMessage(` { "a" : [1, 2, "<&>"] , "b":"\u2028 ` + "\u2028\u2029" + `" } `)},
		{Content: []Content{{Type: ContentToolUse, ID: "t1", Name: "get_weather", Input: json.RawMessage(`{"city": "Paris <3"}`)}}, StopReason: StopToolUse},
		{Content: []Content{{Type: ContentToolResult, ToolUseID: "t1", IsError: &yes, StructuredContent: json.RawMessage(`[1, 2]`),
			Content: []Content{TextContent("x"), {Type: ContentResourceLink, URI: "file:///a", Name: "a"}, {Type: ContentResource, Resource: json.RawMessage(`{"uri":"a"}`)}}}}},
		{Content: []Content{{Type: ContentToolResult, IsError: &no, Content: []Content{}}}},
		{Content: []Content{{Type: ContentText, Text: "a", Annotations: json.RawMessage(`{"audience":["user"]}`), Meta: json.RawMessage(`null`)}}},
		{Content: []Content{{Type: ContentText, Meta: json.RawMessage(`{"unterminated":`)}}},
		{Content: []Content{{Type: ContentToolUse, Input: json.RawMessage(`{} {}`)}}},
		{Meta: json.RawMessage(`nul`)},
	}
}

// TestMarshalMatchesEncodingJSON pins the bytes of the reply and of the
// messages written for the audit log to what encoding/json wrote before the
// writer, including the errors for invalid raw values.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	for i, res := range marshalCases() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkMarshal(t, res)
		})
	}
}

func checkMarshal(t *testing.T, res CreateMessageResult) {
	t.Helper()
	same := func(what string, want []byte, wantErr error, got []byte, gotErr error) {
		t.Helper()
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("%s: error %v, want %v", what, gotErr, wantErr)
		}
		if wantErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
		}
	}
	want, wantErr := refResultJSON(res)
	got, err := res.MarshalJSON()
	same("result", want, wantErr, got, err)
	// As http.go writes it.
	want, wantErr = json.Marshal(map[string]any{"result": refResult(res)})
	got, err = json.Marshal(map[string]any{"result": &res})
	same("reply", want, wantErr, got, err)

	for _, asArray := range []bool{false, true} {
		m := SamplingMessage{Role: res.Role, Content: res.Content, Meta: res.Meta, contentArray: asArray}
		want, wantErr := refMessageJSON(m)
		got, err := m.MarshalJSON()
		same(fmt.Sprintf("message (array %v)", asArray), want, wantErr, got, err)
	}
	for i, c := range res.Content {
		want, wantErr := json.Marshal(refContents(res.Content)[i])
		got, err := json.Marshal(c)
		same(fmt.Sprintf("content[%d]", i), want, wantErr, got, err)
	}
}

type refResult CreateMessageResult

func (r refResult) MarshalJSON() ([]byte, error) { return refResultJSON(CreateMessageResult(r)) }

// TestMarshalGolden pins a reply and a message to literal bytes.
func TestMarshalGolden(t *testing.T) {
	yes := true
	res := &CreateMessageResult{Role: RoleAssistant, Model: "gpt-4o", StopReason: StopEndTurn, Meta: json.RawMessage(`{ "a": 1 }`),
		Content: []Content{TextContent("<b>\"x\"</b>\n\u2028"), {Type: ContentToolResult, ToolUseID: "t", IsError: &yes, Content: []Content{TextContent("")}}}}
	got, err := json.Marshal(res)
	want := `{"role":"assistant","content":[{"type":"text","text":"\u003cb\u003e\"x\"\u003c/b\u003e\n\u2028"},` +
		`{"type":"tool_result","toolUseId":"t","content":[{"type":"text","text":""}],"isError":true}],"model":"gpt-4o","stopReason":"endTurn","_meta":{"a":1}}`
	if err != nil || string(got) != want {
		t.Errorf("result:\n got %s (%v)\nwant %s", got, err, want)
	}
	msg := SamplingMessage{Role: RoleUser, Content: []Content{{Type: ContentImage, Data: "aGk=", MIMEType: "image/png"}}}
	got, err = json.Marshal(msg)
	want = `{"role":"user","content":{"type":"image","data":"aGk=","mimeType":"image/png"}}`
	if err != nil || string(got) != want {
		t.Errorf("message:\n got %s (%v)\nwant %s", got, err, want)
	}
}

// FuzzMarshalJSON checks the writer against the reference on arbitrary
// strings and raw values.
func FuzzMarshalJSON(f *testing.F) {
	for _, res := range marshalCases() {
		var text string
		var raw []byte
		if len(res.Content) > 0 {
			text, raw = res.Content[0].Text, res.Content[0].Input
		}
		f.Add(text, raw, res.Model, uint8(len(res.Content)))
	}
	f.Fuzz(func(t *testing.T, text string, raw []byte, typ string, shape uint8) {
		flag := shape&8 != 0
		c := Content{Type: typ, Text: text, Data: typ, Name: text, Input: raw, IsError: &flag}
		blocks := []Content{c}
		switch shape % 4 {
		case 1:
			blocks = []Content{TextContent(text), {Type: ContentToolResult, ToolUseID: typ, Content: blocks, StructuredContent: raw}}
		case 2:
			blocks = nil
		case 3:
			blocks = []Content{{Type: typ, Meta: raw, Annotations: raw, Resource: raw}}
		}
		checkMarshal(t, CreateMessageResult{Role: Role(typ), Content: blocks, Model: text, StopReason: typ, Meta: raw})
	})
}
