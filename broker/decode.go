package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MethodCreateMessage is the only JSON-RPC method the sampling endpoint takes.
const MethodCreateMessage = "sampling/createMessage"

// Limits caps what a request may hold, so hostile input is refused before
// it costs anything. The zero value of each field selects its default.
type Limits struct {
	MaxBodyBytes     int64 // default 1 MiB
	MaxDepth         int   // JSON nesting, default 32
	MaxMessages      int   // default 256
	MaxParts         int   // content blocks in one message, default 64
	MaxTools         int   // default 128
	MaxStopSequences int   // default 16
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxMessages <= 0 {
		l.MaxMessages = 256
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 64
	}
	if l.MaxTools <= 0 {
		l.MaxTools = 128
	}
	if l.MaxStopSequences <= 0 {
		l.MaxStopSequences = 16
	}
	return l
}

// Request is a decoded sampling/createMessage JSON-RPC request.
type Request struct {
	// ID is the JSON-RPC id exactly as received, echoed in the response.
	ID      json.RawMessage
	Version string
	Params  CreateMessageParams
}

type rpcEnvelope struct {
	JSONRPC *string         `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// DecodeRequest parses a JSON-RPC sampling request. It checks the envelope
// and the JSON types of the params, not the MCP rules (see Validate). On
// error the returned id is whatever valid id could be read, else nil, so the
// error response can still carry it.
func DecodeRequest(body []byte, version string, lim Limits) (*Request, json.RawMessage, error) {
	lim = lim.WithDefaults()
	// A well-formed request decodes in one pass. The reader checks the
	// nesting as it goes, so a body it takes needs only the size and UTF-8
	// checks of checkJSON; anything else is left to the careful path.
	if int64(len(body)) <= lim.MaxBodyBytes && utf8.Valid(body) && SupportedVersion(version) {
		if req, ok := decodeWire(body, lim.MaxDepth); ok {
			req.Version = version
			return req, req.ID, nil
		}
	}
	if err := checkJSON(body, lim); err != nil {
		return nil, nil, err
	}
	return decodeCareful(body, version)
}

// decodeCareful decodes body with encoding/json, with all its leniency
// (case-insensitive keys, the last of duplicate keys), and says what is wrong
// with a request it refuses. It is what defines the result of decoding; the
// one-pass decodeWire is a faster way to the same result for the common shape.
func decodeCareful(body []byte, version string) (*Request, json.RawMessage, error) {
	// One decode through the params' own UnmarshalJSON methods gets most
	// requests. Any problem falls through to the envelope checks below,
	// which say what it is.
	var fast struct {
		JSONRPC string               `json:"jsonrpc"`
		ID      json.RawMessage      `json:"id"`
		Method  string               `json:"method"`
		Params  *CreateMessageParams `json:"params"`
	}
	if json.Unmarshal(body, &fast) == nil && fast.JSONRPC == "2.0" && fast.Method == MethodCreateMessage &&
		fast.Params != nil && SupportedVersion(version) {
		if id := validID(fast.ID); id != nil {
			return &Request{ID: id, Version: version, Params: *fast.Params}, id, nil
		}
	}
	var env rpcEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, nil, &Error{Reason: ReasonParseError, Msg: "request body is not valid JSON"}
		}
		return nil, nil, &Error{Reason: ReasonInvalidRequest, Code: CodeInvalidRequest, Msg: "request must be a JSON-RPC 2.0 request object"}
	}
	id := validID(env.ID)
	invalid := func(msg string) (*Request, json.RawMessage, error) {
		return nil, id, &Error{Reason: ReasonInvalidRequest, Code: CodeInvalidRequest, Msg: msg}
	}
	switch {
	case env.JSONRPC == nil || *env.JSONRPC != "2.0":
		return invalid(`jsonrpc must be "2.0"`)
	case id == nil:
		return invalid("id must be a string or an integer (a notification cannot be answered)")
	case env.Method == nil:
		return invalid("method is required")
	case *env.Method != MethodCreateMessage:
		return nil, id, &Error{Reason: ReasonMethodNotFound, Msg: "only sampling/createMessage is served here"}
	}
	if !SupportedVersion(version) {
		return nil, id, Errorf(ReasonUnsupportedVersion, "unsupported MCP protocol version; supported: %v", Versions)
	}
	p := bytes.TrimSpace(env.Params)
	if len(p) == 0 || p[0] != '{' {
		return nil, id, Errorf(ReasonInvalidRequest, "params must be an object")
	}
	req := &Request{ID: id, Version: version}
	if err := json.Unmarshal(p, &req.Params); err != nil {
		return nil, id, &Error{Reason: ReasonInvalidRequest, Msg: describeDecodeError(err), Err: err}
	}
	return req, id, nil
}

// checkJSON refuses, cheaply and before any decoding, bodies that are
// larger than the cap, not UTF-8, or nested deeper than allowed.
func checkJSON(body []byte, lim Limits) error {
	lim = lim.WithDefaults()
	if int64(len(body)) > lim.MaxBodyBytes {
		return Errorf(ReasonTooLarge, "request body is larger than %d bytes", lim.MaxBodyBytes)
	}
	if !utf8.Valid(body) {
		// encoding/json would silently replace invalid bytes with U+FFFD,
		// so that what we scan differs from what the sender meant.
		return &Error{Reason: ReasonParseError, Msg: "request body is not valid UTF-8"}
	}
	if d, ok := jsonDepth(body, lim.MaxDepth); !ok {
		return &Error{Reason: ReasonParseError, Msg: "request body is not valid JSON"}
	} else if d > lim.MaxDepth {
		return Errorf(ReasonTooLarge, "JSON nesting deeper than %d", lim.MaxDepth)
	}
	return nil
}

// validID returns raw if it is a JSON string or number, else nil. MCP
// forbids null ids; objects and arrays are not ids at all.
func validID(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || len(raw) > 256 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		return raw
	case c == '-' || (c >= '0' && c <= '9'):
		return raw
	}
	return nil
}

// describeDecodeError turns a json error into a message naming the field and
// the expected type, never the offending value.
func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "params"
		} else {
			field = "params." + field
		}
		return fmt.Sprintf("%s: wrong type: got %s, want %s", field, te.Value, jsonTypeName(te.Type.Kind().String()))
	}
	return "params do not match the sampling/createMessage schema"
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

// jsonDepth returns the maximum nesting depth of body, stopping early once
// it exceeds limit. ok is false when brackets do not balance. It is a cheap
// pre-pass that keeps encoding/json's recursion bounded.
func jsonDepth(body []byte, limit int) (depth int, ok bool) {
	inString, escaped := false, false
	d := 0
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			d++
			if d > depth {
				depth = d
				if depth > limit {
					return depth, true
				}
			}
		case '}', ']':
			d--
			if d < 0 {
				return depth, false
			}
		}
	}
	return depth, d == 0 && !inString
}
