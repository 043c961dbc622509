package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// HTTPOptions tune the HTTP front of the broker. The zero value works.
type HTTPOptions struct {
	// MaxInFlight caps concurrent sampling requests across all servers;
	// over it, requests are refused with overloaded. Default 1024.
	MaxInFlight int
	// AuthFailures is how many failed authentications one source address
	// may make per AuthWindow before it is refused without checking.
	// Default 20 per minute.
	AuthFailures int
	AuthWindow   time.Duration
	// Admin configures the operators' API under /admin/v1/.
	Admin AdminOptions
	// Metrics, when set, serves GET /metrics (Prometheus), without
	// authentication, like /healthz.
	Metrics http.Handler
}

// Handler returns the broker's HTTP API:
//
//	POST /v1/sampling  sampling/createMessage as JSON-RPC 2.0
//	GET  /healthz      the process is alive
//	GET  /readyz       the dependencies are reachable
func (b *Broker) Handler(opts HTTPOptions) http.Handler {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1024
	}
	h := &httpAPI{
		b:     b,
		slots: make(chan struct{}, opts.MaxInFlight),
		fails: newFailureLimiter(opts.AuthFailures, opts.AuthWindow, b.now),
	}
	r := chi.NewRouter()
	r.Use(h.recoverer)
	r.Post("/v1/sampling", h.sampling)
	r.Post("/v1/chat/completions", h.chatCompletions)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	r.Get("/readyz", h.ready)
	if opts.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", opts.Metrics)
	}
	if len(opts.Admin.TokenHashes) > 0 {
		a := &adminAPI{b: b, opts: opts.Admin, fails: h.fails}
		r.Route("/admin/v1", a.routes)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	})
	return r
}

type httpAPI struct {
	b     *Broker
	slots chan struct{}
	fails *failureLimiter
}

func (h *httpAPI) sampling(w http.ResponseWriter, r *http.Request) {
	b := h.b
	ev := b.NewEvent(MethodCreateMessage)
	addr := remoteAddr(r)
	ev.Caller = addr.String()

	// Refuse floods cheaply, before reading the body.
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.reply(w, r, ev, nil, nil, b.Audit(r.Context(), ev, Errorf(ReasonOverloaded, "too many requests in flight")))
		return
	}
	srv, fp, err := h.authenticate(r, addr)
	if err != nil {
		h.reply(w, r, ev, nil, nil, b.Audit(r.Context(), ev, err))
		return
	}
	ev.Server = srv.ID
	ev.Caller = fp + "@" + ev.Caller
	release, err := h.admitServer(srv)
	if err != nil {
		h.reply(w, r, ev, nil, nil, b.Audit(r.Context(), ev, err))
		return
	}
	defer release()

	version := r.Header.Get("MCP-Protocol-Version")
	if version == "" {
		version = LatestVersion
	}
	ev.Version = version
	body, err := h.readBody(w, r)
	if err != nil {
		h.reply(w, r, ev, nil, nil, b.Audit(r.Context(), ev, err))
		return
	}
	req, id, err := DecodeRequest(body, version, b.opts.Limits)
	if err != nil {
		h.reply(w, r, ev, id, nil, b.Audit(r.Context(), ev, err))
		return
	}
	res, err := b.Sample(r.Context(), srv, req, ev)
	h.reply(w, r, ev, req.ID, res, err)
}

// admitServer counts a request against srv's in-flight cap. The returned
// function ends it.
func (h *httpAPI) admitServer(srv *Server) (func(), error) {
	max := int64(srv.Policy.MaxInFlight)
	if max <= 0 {
		return func() {}, nil
	}
	if srv.inFlight.Add(1) > max {
		srv.inFlight.Add(-1)
		return nil, &Error{Reason: ReasonConcurrencyLimited, Msg: "too many requests in flight for this server", RetryAfter: 1}
	}
	return func() { srv.inFlight.Add(-1) }, nil
}

// readBody reads the request body up to the configured cap, into a buffer
// sized by Content-Length when the client sent one.
func (h *httpAPI) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := h.b.opts.Limits.MaxBodyBytes
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(ReasonTooLarge, "request body is larger than %d bytes", limit)
		}
		return nil, Wrap(ReasonInvalidRequest, err, "could not read request body")
	}
	return body, nil
}

// readAll is io.ReadAll starting from a buffer of the announced size (one
// byte more, to see the end without growing), within limit.
func readAll(r io.Reader, announced, limit int64) ([]byte, error) {
	if announced <= 0 || announced > limit {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, announced+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow as ReadAll does
		}
	}
}

// authenticate maps the bearer token to a server, and returns the token's
// fingerprint: it identifies the token used without revealing it (the
// first 8 hex digits of its SHA-256, which is already what config holds).
// Addresses with too many recent failures are refused before the token is
// even hashed.
func (h *httpAPI) authenticate(r *http.Request, addr netip.Addr) (*Server, string, error) {
	if !h.fails.allow(addr) {
		return nil, "", &Error{Reason: ReasonAuthThrottled, Msg: "too many failed authentications", RetryAfter: int(h.fails.window.Seconds())}
	}
	token, ok := bearer(r)
	if !ok {
		h.fails.fail(addr)
		return nil, "", Errorf(ReasonUnauthenticated, "missing bearer token")
	}
	sum := sha256.Sum256([]byte(token))
	srv := h.b.byToken[sum]
	if srv == nil {
		h.fails.fail(addr)
		return nil, "", Errorf(ReasonUnauthenticated, "unknown bearer token")
	}
	return srv, hex.EncodeToString(sum[:4]), nil
}

func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(a) <= len(prefix) || !strings.EqualFold(a[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(a[len(prefix):])
	return t, t != "" && len(t) <= 4096
}

// rpcResponse is a JSON-RPC 2.0 response.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Data    rpcErrorData `json:"data"`
}

type rpcErrorData struct {
	Reason    Reason `json:"reason"`
	RequestID string `json:"requestId"`
}

// reply writes the JSON-RPC response and the request's log line. It is the
// one place errors become statuses and codes.
func (h *httpAPI) reply(w http.ResponseWriter, r *http.Request, ev *Event, id json.RawMessage, res *CreateMessageResult, err error) {
	if id == nil {
		id = json.RawMessage("null")
	}
	resp := rpcResponse{JSONRPC: "2.0", ID: id}
	status := http.StatusOK
	w.Header().Set("X-Request-Id", ev.ID)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		if r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			h.logRequest(r, ev, 499, err)
			return
		}
		e := AsError(err)
		status = e.Reason.HTTPStatus()
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		msg := e.Msg
		if e.Reason == ReasonInternal {
			msg = "internal error"
		}
		resp.Error = &rpcError{Code: e.RPCCode(), Message: msg, Data: rpcErrorData{Reason: e.Reason, RequestID: ev.ID}}
	}
	var out []byte
	var merr error
	if err == nil && res != nil {
		out, merr = marshalResult(id, res)
	} else {
		if err == nil {
			resp.Result = res
		}
		out, merr = json.Marshal(resp)
	}
	if merr != nil {
		status = http.StatusInternalServerError
		out = []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error","data":{"reason":"internal"}}}`)
		err = merr
	}
	w.WriteHeader(status)
	w.Write(append(out, '\n'))
	h.logRequest(r, ev, status, err)
}

// marshalResult is json.Marshal of a successful rpcResponse, without
// encoding/json checking and compacting the result's MarshalJSON output a
// second time: it is compact and escaped as encoding/json would.
func marshalResult(id json.RawMessage, res *CreateMessageResult) ([]byte, error) {
	idJSON, err := json.Marshal(id) // compacted and escaped, as in rpcResponse
	if err != nil {
		return nil, err
	}
	body, err := res.MarshalJSON()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(idJSON)+40)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, idJSON...)
	out = append(out, `,"result":`...)
	out = append(out, body...)
	return append(out, '}'), nil
}

func (h *httpAPI) logRequest(r *http.Request, ev *Event, status int, err error) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("request_id", ev.ID),
		slog.String("server", ev.Server),
		slog.Int("status", status),
		slog.String("decision", ev.Decision),
		slog.Duration("duration", time.Since(ev.Time)),
	}
	if ev.Model != "" {
		attrs = append(attrs, slog.String("model", ev.Model))
	}
	if err != nil {
		e := AsError(err)
		attrs = append(attrs, slog.String("reason", string(e.Reason)))
		if e.Reason == ReasonInternal || e.Reason == ReasonUnavailable || e.Reason == ReasonProviderError {
			level = slog.LevelWarn
			if e.Err != nil {
				attrs = append(attrs, slog.String("cause", e.Err.Error()))
			}
		}
	}
	h.b.log.LogAttrs(r.Context(), level, "sampling", attrs...)
}

func (h *httpAPI) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failed := h.b.Ready(ctx)
	status := map[string]string{}
	for name := range h.b.opts.Checkers {
		status[name] = "ok"
	}
	code := http.StatusOK
	for name, err := range failed {
		status[name] = "unreachable"
		h.b.log.Warn("readiness check failed", "dependency", name, "err", err)
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"ready": code == http.StatusOK, "dependencies": status})
}

// recoverer turns a panic into a bare internal error; the log gets the
// stack, never the request.
func (h *httpAPI) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.b.log.Error("panic serving request", "path", r.URL.Path, "stack", string(debug.Stack()))
				writeJSONError(w, http.StatusInternalServerError, string(ReasonInternal), "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func writeJSONError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"reason": reason, "message": msg}})
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
