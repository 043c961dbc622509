package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The SDK hands a sampling handler decoded params and nothing else: not the
// JSON-RPC id, not the raw params. To forward what the server sent, the
// connection is wrapped and keeps the raw params of each sampling request it
// reads; the handler takes the one that decodes to the params it was given.
// Decoded params are compared by their re-encoding, which is what would be
// sent otherwise, so a raw entry can only replace params it is a faithful
// source of: it differs from them in nothing but what the SDK's types lose.

// streamTransport reports whether t is one of the SDK's byte-stream
// transports. Their connections implement no hook beyond mcp.Connection for
// a client, so a wrapper hides nothing. The HTTP transports' connections
// implement an unexported session hook the wrapper could not forward.
func streamTransport(t mcp.Transport) bool {
	switch t.(type) {
	case *mcp.CommandTransport, *mcp.StdioTransport, *mcp.IOTransport, *mcp.InMemoryTransport:
		return true
	}
	return false
}

// captureTransport connects its Transport and records the raw sampling
// params the connection reads in store.
type captureTransport struct {
	mcp.Transport
	store *rawStore
}

// Connect connects the wrapped transport.
func (t *captureTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &captureConn{Connection: c, store: t.store}, nil
}

type captureConn struct {
	mcp.Connection
	store *rawStore
}

// Read reads the next message and records the sampling params it carries,
// before the SDK dispatches it to a handler.
func (c *captureConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.store.observe(msg)
	}
	return msg, err
}

const (
	// maxRawEntries bounds the raw params kept for one session. Entries are
	// taken by the handler; those never taken (a request the SDK refused
	// before the handler, or params CreateMessage cannot represent) are
	// dropped oldest first.
	maxRawEntries = 16
	// maxRawBytes bounds the raw params kept: larger ones (Airlock's default
	// body cap is 1 MiB) are recorded without them, so their handler sends
	// the SDK's params rather than another entry's raw params.
	maxRawBytes = 1 << 20
)

// rawStore holds the raw params of the sampling requests of one session
// that are waiting for the handler.
type rawStore struct {
	mu      sync.Mutex
	pending []rawEntry
}

type rawEntry struct {
	sum [sha256.Size]byte
	raw json.RawMessage
	// ambiguous marks an entry whose fingerprint another pending entry with
	// different raw params shares: which is which is unknown, so neither is
	// used.
	ambiguous bool
}

// observe records the sampling params of msg: those of a
// sampling/createMessage request (up to 2025-11-25), or those of the
// sampling input requests of an input_required result (2026-07-28).
func (s *rawStore) observe(msg jsonrpc.Message) {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.Method == methodCreateMessage && m.IsCall() {
			s.add(m.Params)
		}
	case *jsonrpc.Response:
		if m.Error != nil || !bytes.Contains(m.Result, []byte(`"inputRequests"`)) {
			return
		}
		var r struct {
			InputRequests map[string]struct {
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
			} `json:"inputRequests"`
		}
		if json.Unmarshal(m.Result, &r) != nil {
			return
		}
		for _, ir := range r.InputRequests {
			if ir.Method == methodCreateMessage {
				s.add(ir.Params)
			}
		}
	}
}

// add keeps raw under its fingerprint. Params that do not decode are not
// kept: the SDK refuses them too.
func (s *rawStore) add(raw json.RawMessage) {
	var p mcp.CreateMessageWithToolsParams
	if json.Unmarshal(raw, &p) != nil {
		return
	}
	enc, err := json.Marshal(&p)
	if err != nil {
		return
	}
	e := rawEntry{sum: fingerprint(enc)}
	if len(raw) <= maxRawBytes {
		e.raw = bytes.Clone(raw)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.pending {
		if o := &s.pending[i]; o.sum == e.sum && !bytes.Equal(o.raw, e.raw) {
			o.ambiguous, e.ambiguous = true, true
		}
	}
	if len(s.pending) == maxRawEntries {
		s.pending = s.pending[1:]
	}
	s.pending = append(s.pending, e)
}

// take removes the oldest entry with fingerprint sum and returns its raw
// params, unless it has none or is ambiguous.
func (s *rawStore) take(sum [sha256.Size]byte) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.pending {
		if e.sum == sum {
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			return e.raw, e.raw != nil && !e.ambiguous
		}
	}
	return nil, false
}

// fingerprint identifies params by their encoding from the SDK's types.
func fingerprint(enc []byte) [sha256.Size]byte { return sha256.Sum256(enc) }
