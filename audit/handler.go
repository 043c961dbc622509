package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// HandlerOptions configure Handler. The zero value works.
type HandlerOptions struct {
	// Checkpoint, when set, serves GET /checkpoint: typically the
	// Checkpoint method of this replica's Chain.
	Checkpoint func() Checkpoint
	Logger     *slog.Logger
}

// Handler serves the audit trail held in src, for the admin API:
//
//	GET /            records matching ?server= &decision= &reason= &chain=
//	                 &since= &until= (RFC 3339) &after= (a cursor) &limit=,
//	                 as {"records":[...],"next":"cursor"}, oldest first
//	GET /checkpoint  the head of this replica's chain
//
// Paths are relative: mount it with its prefix stripped, behind the admin
// authentication. Records are returned whole, so a page can be verified.
func Handler(src Source, opts HandlerOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{src: src, opts: opts}
}

type handler struct {
	src  Source
	opts HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	switch r.URL.Path {
	case "", "/":
		h.query(w, r)
	case "/checkpoint":
		if h.opts.Checkpoint == nil {
			writeError(w, http.StatusNotFound, "not_found", "this replica writes no audit chain")
			return
		}
		writeJSON(w, http.StatusOK, h.opts.Checkpoint())
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

func (h *handler) query(w http.ResponseWriter, r *http.Request) {
	f, after, limit, err := parseQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, string(broker.ReasonInvalidRequest), err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	page, err := Query(ctx, h.src, f, after, limit)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		if errors.Is(err, ErrBadCursor) {
			writeError(w, http.StatusBadRequest, string(broker.ReasonInvalidRequest), "after: "+err.Error())
			return
		}
		h.opts.Logger.Error("audit query failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, string(broker.ReasonUnavailable), "audit trail unavailable")
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// parseQuery reads the query parameters, refusing unknown ones: a typo
// must not silently widen a query.
func parseQuery(r *http.Request) (f Filter, after string, limit int, err error) {
	var errs []error
	for k, v := range r.URL.Query() {
		if len(v) != 1 || len(v[0]) > 256 {
			errs = append(errs, fmt.Errorf("%s: give it once, at most 256 bytes", k))
			continue
		}
		val := v[0]
		switch k {
		case "server":
			f.Server = val
		case "chain":
			f.Chain = val
		case "reason":
			f.Reason = val
		case "decision":
			switch val {
			case broker.DecisionServed, broker.DecisionBlocked, broker.DecisionRefused, broker.DecisionFailed:
				f.Decision = val
			default:
				errs = append(errs, errors.New("decision: served, blocked, refused or failed"))
			}
		case "since", "until":
			t, terr := time.Parse(time.RFC3339Nano, val)
			if terr != nil {
				errs = append(errs, fmt.Errorf("%s: an RFC 3339 time such as 2025-01-02T15:04:05Z", k))
			} else if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "after":
			after = val
		case "limit":
			n, lerr := strconv.Atoi(val)
			if lerr != nil || n < 1 || n > MaxLimit {
				errs = append(errs, fmt.Errorf("limit: an integer from 1 to %d", MaxLimit))
			}
			limit = n
		default:
			errs = append(errs, fmt.Errorf("%s: unknown parameter (server, decision, reason, chain, since, until, after, limit)", k))
		}
	}
	return f, after, limit, errors.Join(errs...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, string(broker.ReasonInternal), "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"reason": reason, "message": msg}})
}
