package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// Bearer keys that tell the upstream who called it.
const (
	brokerUpstreamKey = "sk-bench-via-broker"
	directUpstreamKey = "sk-bench-direct"
)

// completion is the upstream's answer, in OpenAI's exact wire format.
var completion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1732400000,"model":"gpt-bench-upstream-2024","choices":[{"index":0,"message":{"role":"assistant","content":"The document reports steady growth and flat costs; the migration caused no downtime."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":512,"completion_tokens":18,"total_tokens":530}}`)

// upstream is a zero-latency OpenAI-compatible server on loopback. It reads
// each request whole, checks that no planted secret came through the
// broker, and answers at once; or, while a gate is set, holds requests
// until the gate opens, so that many are in flight together.
type upstream struct {
	URL string
	srv *http.Server

	gate    atomic.Pointer[chan struct{}]
	maxHold time.Duration
	held    atomic.Int64 // requests waiting at the gate now

	viaBroker atomic.Int64
	direct    atomic.Int64
	leaks     atomic.Int64
	bufs      sync.Pool
}

func startUpstream(log *slog.Logger) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{URL: "http://" + ln.Addr().String(), maxHold: 30 * time.Second}
	u.bufs.New = func() any { return new(bytes.Buffer) }
	u.srv = &http.Server{
		Handler:           u,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go pprof.Do(context.Background(), pprof.Labels("role", "upstream"), func(context.Context) { u.srv.Serve(ln) })
	return u, nil
}

func (u *upstream) Close() {
	u.open()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u.srv.Shutdown(ctx)
}

// hold makes requests wait until open is called (or maxHold passes).
func (u *upstream) hold() {
	ch := make(chan struct{})
	u.gate.Store(&ch)
}

// open releases held requests and stops holding new ones.
func (u *upstream) open() {
	if ch := u.gate.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`)
		return
	}
	buf := u.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			buf.Reset()
			u.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := io.Copy(buf, http.MaxBytesReader(w, r.Body, 8<<20)); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"bad body","type":"invalid_request_error"}}`)
		return
	}
	// Both paths pay for the check, so that it cancels out of the added
	// latency; only the broker's requests must be clean.
	leaked := false
	for _, m := range leakMarkers {
		if bytes.Contains(buf.Bytes(), m) {
			leaked = true
		}
	}
	switch r.Header.Get("Authorization") {
	case "Bearer " + brokerUpstreamKey:
		u.viaBroker.Add(1)
		if leaked {
			u.leaks.Add(1)
		}
	case "Bearer " + directUpstreamKey:
		u.direct.Add(1)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	if g := u.gate.Load(); g != nil {
		u.held.Add(1)
		t := time.NewTimer(u.maxHold)
		select {
		case <-*g:
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
		u.held.Add(-1)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(completion)
}
