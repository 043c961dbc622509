package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// These tests speak to the SDK client with an MCP server written as JSON-RPC
// messages: the SDK's server never sends a temperature of 0 (omitempty), and
// they check the exact messages of both protocol styles.

// wireServer is the server end of an in-memory transport, driven by hand.
type wireServer struct {
	conn mcp.Connection
}

func newWireServer(t *testing.T, tr mcp.Transport) *wireServer {
	t.Helper()
	conn, err := tr.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wireServer{conn: conn}
}

// next returns the next request or notification from the client.
func (w *wireServer) next(ctx context.Context) (*jsonrpc.Request, error) {
	msg, err := w.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return nil, fmt.Errorf("got %T, want a request", msg)
	}
	return req, nil
}

// expect returns the next message, which must be a method call.
func (w *wireServer) expect(ctx context.Context, method string) (*jsonrpc.Request, error) {
	req, err := w.next(ctx)
	if err != nil {
		return nil, err
	}
	if req.Method != method || !req.IsCall() {
		return nil, fmt.Errorf("got %s (call: %v), want a %s call", req.Method, req.IsCall(), method)
	}
	return req, nil
}

func (w *wireServer) reply(ctx context.Context, id jsonrpc.ID, result string) error {
	return w.conn.Write(ctx, &jsonrpc.Response{ID: id, Result: json.RawMessage(result)})
}

// initialize answers the legacy handshake at version.
func (w *wireServer) initialize(ctx context.Context, version string) error {
	req, err := w.expect(ctx, "initialize")
	if err != nil {
		return err
	}
	if err := w.reply(ctx, req.ID, `{"protocolVersion":"`+version+`","capabilities":{},"serverInfo":{"name":"wire","version":"1.0.0"}}`); err != nil {
		return err
	}
	if n, err := w.next(ctx); err != nil || n.Method != "notifications/initialized" {
		return fmt.Errorf("after initialize: %v %v", n, err)
	}
	return nil
}

// discover answers the 2026-07-28 discovery.
func (w *wireServer) discover(ctx context.Context) error {
	req, err := w.expect(ctx, "server/discover")
	if err != nil {
		return err
	}
	return w.reply(ctx, req.ID, `{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"wire","version":"1.0.0"}}}`)
}

// call sends a request to the client and returns its response.
func (w *wireServer) call(ctx context.Context, id, method, params string) (*jsonrpc.Response, error) {
	rid, err := jsonrpc.MakeID(id)
	if err != nil {
		return nil, err
	}
	if err := w.conn.Write(ctx, &jsonrpc.Request{ID: rid, Method: method, Params: json.RawMessage(params)}); err != nil {
		return nil, err
	}
	msg, err := w.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || resp.ID != rid {
		return nil, fmt.Errorf("got %#v, want the response to %s", msg, id)
	}
	return resp, nil
}

// blurredParams are sampling params with values the SDK's types lose: a
// temperature and a priority of 0, and a message's _meta.
func blurredParams(text string) string {
	return fmt.Sprintf(`{"messages":[{"role":"user","content":{"type":"text","text":%q},"_meta":{"trace":"m-1"}}],`+
		`"maxTokens":50,"temperature":0,"modelPreferences":{"hints":[{"name":"gpt"}],"costPriority":0}}`, text)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newHostClient(f *Forwarder) *mcp.Client {
	return mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1.0.0"}, &mcp.ClientOptions{
		CreateMessageWithToolsHandler: f.CreateMessageWithTools,
	})
}

func TestWireSamplingRequest(t *testing.T) {
	tests := []struct {
		name string
		// connect connects the client as Connect does or as c.Connect does.
		viaForwarder bool
		// wantTemperature: the upstream receives "temperature": 0.
		wantTemperature bool
	}{
		{name: "Forwarder.Connect sends the params as received", viaForwarder: true, wantTemperature: true},
		{name: "Client.Connect sends the SDK's params", viaForwarder: false, wantTemperature: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			al := startAirlock(t)
			f, err := New(Config{
				URL:     al.URL,
				Tokens:  map[string]string{"alpha": alphaToken},
				Resolve: func(context.Context, *mcp.ClientSession) (string, error) { return alphaToken, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			c := newHostClient(f)
			st, ct := mcp.NewInMemoryTransports()
			srv := newWireServer(t, st)
			handshake := make(chan error, 1)
			go func() { handshake <- srv.initialize(ctx, "2025-06-18") }()
			opts := &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"}
			var cs *mcp.ClientSession
			if tt.viaForwarder {
				cs, err = f.Connect(ctx, c, "alpha", ct, opts)
			} else {
				cs, err = c.Connect(ctx, ct, opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if err := <-handshake; err != nil {
				t.Fatal(err)
			}

			resp, err := srv.call(ctx, "s-1", "sampling/createMessage", blurredParams(mailText))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Error != nil {
				t.Fatalf("sampling failed: %v", resp.Error)
			}
			var res struct {
				Role    string
				Model   string
				Content struct{ Type, Text string }
			}
			if err := json.Unmarshal(resp.Result, &res); err != nil {
				t.Fatal(err)
			}
			if res.Role != "assistant" || res.Model != testModel.Name || res.Content.Text != restoredText {
				t.Errorf("result = %+v, want the assistant's %q from %s", res, restoredText, testModel.Name)
			}
			body := al.up.requests()[0]
			temp, ok := body["temperature"]
			if ok != tt.wantTemperature || (ok && temp != float64(0)) {
				t.Errorf("upstream temperature = %v (present %v), want present %v and 0", temp, ok, tt.wantTemperature)
			}

			// A refusal is a JSON-RPC error on the wire, code -1.
			resp, err = srv.call(ctx, "s-2", "sampling/createMessage", blurredParams(injectionText))
			if err != nil {
				t.Fatal(err)
			}
			var we *jsonrpc.Error
			if !errors.As(resp.Error, &we) || we.Code != -1 || Reason(we) != "injection_detected" {
				t.Errorf("refusal = %#v, want code -1 with reason injection_detected", resp.Error)
			}
			if spent, _ := al.spent(t, "alpha"); spent != requestCost() {
				t.Errorf("alpha charged %d µUSD, want %d", spent, requestCost())
			}
		})
	}
}

func TestWireInputRequests(t *testing.T) {
	ctx := testContext(t)
	al := startAirlock(t)
	f, err := New(Config{URL: al.URL, Tokens: map[string]string{"alpha": alphaToken}})
	if err != nil {
		t.Fatal(err)
	}
	c := newHostClient(f)
	st, ct := mcp.NewInMemoryTransports()
	srv := newWireServer(t, st)
	handshake := make(chan error, 1)
	go func() { handshake <- srv.discover(ctx) }()
	cs, err := f.Connect(ctx, c, "alpha", ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := <-handshake; err != nil {
		t.Fatal(err)
	}
	if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %s, want 2026-07-28", v)
	}

	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	call := func(tool string) <-chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
			ch <- outcome{res, err}
		}()
		return ch
	}
	inputRequired := func(text, state string) string {
		return fmt.Sprintf(`{"resultType":"input_required","inputRequests":{"summary":{"method":"sampling/createMessage","params":%s}},"requestState":%q}`,
			blurredParams(text), state)
	}
	type retryParams struct {
		Name           string
		RequestState   string
		InputResponses map[string]struct {
			Role    string
			Model   string
			Content struct{ Type, Text string }
		}
	}

	// Served: the client answers the input request through Airlock and
	// retries with a new id, the inputResponses and the requestState.
	done := call("summarize")
	first, err := srv.expect(ctx, "tools/call")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.reply(ctx, first.ID, inputRequired(mailText, "opaque-state-1")); err != nil {
		t.Fatal(err)
	}
	retry, err := srv.expect(ctx, "tools/call")
	if err != nil {
		t.Fatal(err)
	}
	if retry.ID == first.ID {
		t.Errorf("retry reused id %v", first.ID)
	}
	var rp retryParams
	if err := json.Unmarshal(retry.Params, &rp); err != nil {
		t.Fatal(err)
	}
	got := rp.InputResponses["summary"]
	if rp.Name != "summarize" || rp.RequestState != "opaque-state-1" || got.Role != "assistant" || got.Model != testModel.Name || got.Content.Text != restoredText {
		t.Errorf("retry params = %+v, want summarize with requestState opaque-state-1 and the assistant's %q", rp, restoredText)
	}
	if err := srv.reply(ctx, retry.ID, `{"resultType":"complete","content":[{"type":"text","text":"summarized"}]}`); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o.err != nil || o.res.Content[0].(*mcp.TextContent).Text != "summarized" {
		t.Fatalf("CallTool = %+v, %v", o.res, o.err)
	}
	reqs := al.up.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(reqs))
	}
	if sent := lastUserText(t, reqs[0]); sent != "Mail [EMAIL_1] about the launch." {
		t.Errorf("upstream saw %q", sent)
	}
	if temp, ok := reqs[0]["temperature"]; !ok || temp != float64(0) {
		t.Errorf("upstream temperature = %v (present %v), want 0", temp, ok)
	}

	// Refused: there is no way to say so in inputResponses, so the client
	// does not retry and the host's call fails with Airlock's reason.
	done = call("summarize")
	first, err = srv.expect(ctx, "tools/call")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.reply(ctx, first.ID, inputRequired(injectionText, "opaque-state-2")); err != nil {
		t.Fatal(err)
	}
	o := <-done
	var we *jsonrpc.Error
	if !errors.As(o.err, &we) || we.Code != -1 || Reason(o.err) != "injection_detected" {
		t.Fatalf("CallTool error = %v, want code -1 with reason injection_detected", o.err)
	}
	// The next message is the host's next call, not a retry.
	done = call("after")
	next, err := srv.expect(ctx, "tools/call")
	if err != nil {
		t.Fatal(err)
	}
	rp = retryParams{}
	if err := json.Unmarshal(next.Params, &rp); err != nil {
		t.Fatal(err)
	}
	if rp.Name != "after" || rp.RequestState != "" || rp.InputResponses != nil {
		t.Errorf("after a refusal the server got %s, want the next call", next.Params)
	}
	if err := srv.reply(ctx, next.ID, `{"resultType":"complete","content":[]}`); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o.err != nil {
		t.Fatal(o.err)
	}
	if n := len(al.up.requests()); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
	if spent, _ := al.spent(t, "alpha"); spent != requestCost() {
		t.Errorf("alpha charged %d µUSD, want %d", spent, requestCost())
	}
}
