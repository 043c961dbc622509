package broker

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestMarshalResult: the reply is byte-for-byte what encoding/json writes
// for the same rpcResponse.
func TestMarshalResult(t *testing.T) {
	ids := []string{`1`, `-2.5e3`, `"a"`, `"<b>&\u2028"`, `"é\"\\"`}
	results := []*CreateMessageResult{
		{Role: RoleAssistant, Content: []Content{TextContent("hello <world> & \u2028 \x01 é 🙂")}, Model: "m", StopReason: "endTurn"},
		{Role: RoleAssistant, Content: []Content{TextContent("a"), TextContent("b")}, Model: "m<"},
		{Role: RoleAssistant, Content: []Content{{Type: ContentToolUse, ID: "t1", Name: "f", Input: json.RawMessage(`{ "x" : [1, 2, "<"] }`)}}, Model: "m", StopReason: "toolUse"},
		{Role: RoleAssistant, Content: []Content{}, Model: ""},
	}
	for _, id := range ids {
		for i, res := range results {
			want, err := json.Marshal(rpcResponse{JSONRPC: "2.0", ID: json.RawMessage(id), Result: res})
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalResult(json.RawMessage(id), res)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("id %s, result %d:\n got %s\nwant %s", id, i, got, want)
			}
		}
	}
}
