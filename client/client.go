package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config configures a Forwarder. URL is required, and at least one of
// Tokens and Resolve.
type Config struct {
	// URL is Airlock's base URL, e.g. "https://airlock.internal:8443".
	// Requests go to URL + "/v1/sampling".
	URL string
	// Tokens maps the host's own name for a server connection, as given to
	// Connect, to that server's Airlock bearer token. The name is the
	// host's (its configuration key for the server), never the name the
	// server reports about itself.
	Tokens map[string]string
	// Resolve returns the token for a session not connected with Connect,
	// e.g. by looking the session up in the host's own table. It is called
	// for every request of such a session. An error or an empty token
	// refuses the request.
	Resolve func(ctx context.Context, cs *mcp.ClientSession) (token string, err error)
	// HTTPClient sends the requests to Airlock. Default: a client with a
	// 5-minute timeout, enough for a slow model with retries.
	HTTPClient *http.Client
	// Logger receives a record for each request that fails for a reason of
	// the host's (no token, Airlock unreachable or answering nonsense),
	// never tokens or prompt text. Discarded if nil.
	Logger *slog.Logger
}

// maxResponseBytes caps Airlock's answer read into memory.
const maxResponseBytes = 8 << 20

// Forwarder sends the sampling requests of MCP sessions to Airlock. It is
// safe for concurrent use by any number of clients and sessions.
type Forwarder struct {
	endpoint string
	tokens   map[string]string
	resolve  func(ctx context.Context, cs *mcp.ClientSession) (string, error)
	http     *http.Client
	log      *slog.Logger
	ids      atomic.Int64

	mu         sync.Mutex
	sessions   map[*mcp.ClientSession]*conn
	connecting int           // Connect calls in progress
	changed    chan struct{} // closed and replaced when sessions or connecting change
}

// conn is what Connect recorded about a session.
type conn struct {
	name string
	raw  *rawStore // nil when the transport is not wrapped
}

// New returns a Forwarder for cfg, reporting every problem of cfg together.
func New(cfg Config) (*Forwarder, error) {
	var errs []error
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		errs = append(errs, errors.New("client: URL must be an http or https URL without credentials"))
	}
	if len(cfg.Tokens) == 0 && cfg.Resolve == nil {
		errs = append(errs, errors.New("client: Tokens or Resolve is required"))
	}
	for name, tok := range cfg.Tokens {
		if tok == "" {
			errs = append(errs, fmt.Errorf("client: empty token for connection %q", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f := &Forwarder{
		endpoint: strings.TrimRight(cfg.URL, "/") + "/v1/sampling",
		tokens:   maps.Clone(cfg.Tokens),
		resolve:  cfg.Resolve,
		http:     cfg.HTTPClient,
		log:      cfg.Logger,
		sessions: make(map[*mcp.ClientSession]*conn),
		changed:  make(chan struct{}),
	}
	if f.http == nil {
		f.http = &http.Client{Timeout: 5 * time.Minute}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Connect connects c to a server over t, as c.Connect does, and records
// that the session is the host's connection name, whose token is
// Config.Tokens[name]. Over a byte-stream transport it also keeps the raw
// sampling params the server sends, so that values the SDK's types blur are
// forwarded as sent (see the package documentation).
func (f *Forwarder) Connect(ctx context.Context, c *mcp.Client, name string, t mcp.Transport, opts *mcp.ClientSessionOptions) (*mcp.ClientSession, error) {
	if f.tokens[name] == "" {
		return nil, fmt.Errorf("client: no token configured for connection %q", name)
	}
	cn := &conn{name: name}
	if streamTransport(t) {
		cn.raw = &rawStore{}
		t = &captureTransport{Transport: t, store: cn.raw}
	}
	// A server may send a request as soon as it has the initialized
	// notification, before c.Connect returns the session: handlers wait
	// for connects in progress (see lookup).
	f.mu.Lock()
	f.connecting++
	f.mu.Unlock()
	cs, err := c.Connect(ctx, t, opts)
	f.mu.Lock()
	f.connecting--
	if err == nil {
		f.sessions[cs] = cn
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	go func() {
		cs.Wait()
		f.mu.Lock()
		delete(f.sessions, cs)
		f.mu.Unlock()
	}()
	return cs, nil
}

// lookup returns what Connect recorded about cs, or nil for a session
// connected otherwise. While a Connect is in progress an unknown session
// may be the one it is connecting, so lookup waits for it.
func (f *Forwarder) lookup(ctx context.Context, cs *mcp.ClientSession) (*conn, error) {
	for {
		f.mu.Lock()
		cn, connecting, changed := f.sessions[cs], f.connecting, f.changed
		f.mu.Unlock()
		if cn != nil || connecting == 0 {
			return cn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// token returns the Airlock token for cs. Connect checked that its name
// has one.
func (f *Forwarder) token(ctx context.Context, cs *mcp.ClientSession, cn *conn) (string, error) {
	if cn != nil {
		return f.tokens[cn.name], nil
	}
	if f.resolve == nil {
		f.log.Warn("airlock sampling refused: session not connected with Forwarder.Connect and no Resolve")
		return "", noToken()
	}
	tok, err := f.resolve(ctx, cs)
	if err != nil || tok == "" {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		f.log.Warn("airlock sampling refused: Resolve found no token", "err", err)
		return "", noToken()
	}
	return tok, nil
}

// CreateMessageWithTools is a ClientOptions.CreateMessageWithToolsHandler
// that forwards the request to Airlock. It serves both protocol styles: the
// SDK calls it for a sampling/createMessage request and for each sampling
// input request of an input_required result. Prefer it to CreateMessage: it
// keeps tools, toolChoice and messages of several content blocks.
func (f *Forwarder) CreateMessageWithTools(ctx context.Context, req *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
	raw, err := f.forward(ctx, req.Session, req.Params)
	if err != nil {
		return nil, err
	}
	var res mcp.CreateMessageWithToolsResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, f.badAnswer("decode Airlock's result", err)
	}
	return &res, nil
}

// CreateMessage is a ClientOptions.CreateMessageHandler that forwards the
// request to Airlock. The SDK drops tools and toolChoice before calling it
// and refuses messages with several content blocks; a result must have one
// content block.
func (f *Forwarder) CreateMessage(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	var p *mcp.CreateMessageWithToolsParams
	if req.Params != nil {
		p = withTools(req.Params)
	}
	raw, err := f.forward(ctx, req.Session, p)
	if err != nil {
		return nil, err
	}
	var res mcp.CreateMessageWithToolsResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, f.badAnswer("decode Airlock's result", err)
	}
	if len(res.Content) != 1 {
		return nil, f.badAnswer("convert Airlock's result", fmt.Errorf("%d content blocks, CreateMessageResult holds one: use CreateMessageWithTools", len(res.Content)))
	}
	return &mcp.CreateMessageResult{Meta: res.Meta, Content: res.Content[0], Model: res.Model, Role: res.Role, StopReason: res.StopReason}, nil
}

// withTools converts p as the SDK converts the other way, so that both
// handlers see the same params for the same request.
func withTools(p *mcp.CreateMessageParams) *mcp.CreateMessageWithToolsParams {
	msgs := make([]*mcp.SamplingMessageV2, 0, len(p.Messages))
	for _, m := range p.Messages {
		var content []mcp.Content
		if m.Content != nil {
			content = []mcp.Content{m.Content}
		}
		msgs = append(msgs, &mcp.SamplingMessageV2{Content: content, Role: m.Role})
	}
	return &mcp.CreateMessageWithToolsParams{
		Meta: p.Meta, IncludeContext: p.IncludeContext, MaxTokens: p.MaxTokens, Messages: msgs,
		Metadata: p.Metadata, ModelPreferences: p.ModelPreferences, StopSequences: p.StopSequences,
		SystemPrompt: p.SystemPrompt, Temperature: p.Temperature,
	}
}

// forward sends p, received on cs, to Airlock with cs's token and protocol
// version, and returns the result as JSON.
func (f *Forwarder) forward(ctx context.Context, cs *mcp.ClientSession, p *mcp.CreateMessageWithToolsParams) (json.RawMessage, error) {
	if p == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "sampling/createMessage without params"}
	}
	cn, err := f.lookup(ctx, cs)
	if err != nil {
		return nil, err
	}
	tok, err := f.token(ctx, cs, cn)
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(p)
	if err != nil {
		return nil, f.badAnswer("encode sampling params", err)
	}
	if cn != nil && cn.raw != nil {
		if raw, ok := cn.raw.take(fingerprint(params)); ok {
			params = raw
		}
	}
	return f.Sample(ctx, tok, sessionVersion(cs), params)
}

// sessionVersion is the protocol version cs negotiated, or "" before that.
func sessionVersion(cs *mcp.ClientSession) string {
	if cs == nil {
		return ""
	}
	if r := cs.InitializeResult(); r != nil {
		return r.ProtocolVersion
	}
	return ""
}

// Sample sends one sampling/createMessage request to Airlock: params are
// the request's params as JSON, token is the bearer token of the server the
// request comes from, version its negotiated protocol version ("" lets
// Airlock assume the latest). It returns the CreateMessageResult as JSON.
//
// Every refusal and failure is a *jsonrpc.Error, ready for the wire: what
// Airlock answered (code, safe message and data with the reason), or, when
// Airlock cannot be reached, code -32002 with reason "unavailable", and when
// it answers something that is not a JSON-RPC response, code -32603 with
// reason "internal"; the cause of those two goes to the logger only. The
// error is ctx's when ctx ends first.
func (f *Forwarder) Sample(ctx context.Context, token, version string, params json.RawMessage) (json.RawMessage, error) {
	body, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      int64           `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}{"2.0", f.ids.Add(1), methodCreateMessage, params})
	if err != nil {
		return nil, f.badAnswer("encode the request", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, f.badAnswer("build the request", err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if version != "" {
		hr.Header.Set("MCP-Protocol-Version", version)
	}
	resp, err := f.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, f.unavailable("call Airlock", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, f.unavailable("read Airlock's answer", err)
	}
	if len(answer) > maxResponseBytes {
		return nil, f.badAnswer("read Airlock's answer", fmt.Errorf("larger than %d bytes", maxResponseBytes))
	}
	var out struct {
		JSONRPC string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		Error   *jsonrpc.Error  `json:"error"`
	}
	err = json.Unmarshal(answer, &out)
	switch {
	case err != nil && resp.StatusCode >= 500:
		// A proxy in front of Airlock failing, most likely.
		return nil, f.unavailable("read Airlock's answer", fmt.Errorf("HTTP %d without a JSON-RPC body", resp.StatusCode))
	case err != nil || out.JSONRPC != "2.0":
		return nil, f.badAnswer("read Airlock's answer", fmt.Errorf("HTTP %d is not a JSON-RPC response (is Config.URL Airlock's base URL?)", resp.StatusCode))
	case out.Error != nil:
		return nil, out.Error
	case len(out.Result) == 0 || string(out.Result) == "null":
		return nil, f.badAnswer("read Airlock's answer", errors.New("neither result nor error"))
	}
	return out.Result, nil
}

const methodCreateMessage = "sampling/createMessage"

// JSON-RPC codes and reasons of the errors the Forwarder makes itself. They
// are Airlock's own (broker.CodeUnauthorized and so on), so a server sees one
// vocabulary whichever side refused.
const (
	codeUnauthorized = -32001
	codeUnavailable  = -32002
	codeInternal     = -32603
)

// noToken refuses a request of a session the host has no token for, as
// Airlock refuses a request without a token.
func noToken() error {
	return &jsonrpc.Error{
		Code:    codeUnauthorized,
		Message: "sampling is not configured for this server",
		Data:    json.RawMessage(`{"reason":"unauthenticated"}`),
	}
}

// unavailable logs why Airlock could not be reached and returns the error
// for the wire, which does not say where Airlock is.
func (f *Forwarder) unavailable(doing string, err error) error {
	f.log.Warn("airlock sampling failed", "doing", doing, "err", err)
	return &jsonrpc.Error{Code: codeUnavailable, Message: "sampling broker unavailable", Data: json.RawMessage(`{"reason":"unavailable"}`)}
}

// badAnswer logs a failure that is a bug or a misconfiguration and returns
// a bare internal error for the wire.
func (f *Forwarder) badAnswer(doing string, err error) error {
	f.log.Error("airlock sampling failed", "doing", doing, "err", err)
	return &jsonrpc.Error{Code: codeInternal, Message: "internal error", Data: json.RawMessage(`{"reason":"internal"}`)}
}

// Reason returns the reason of a refusal by Airlock or by a Forwarder
// (error.data.reason, e.g. "injection_detected") found in err's chain, or ""
// if there is none. A host uses it on the error of a CallTool whose sampling
// input request was refused, which in 2026-07-28 never reaches the server.
func Reason(err error) string {
	var e *jsonrpc.Error
	if !errors.As(err, &e) || len(e.Data) == 0 {
		return ""
	}
	var d struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	return d.Reason
}
