package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// AdminOptions configure the operators' API under /admin/v1/.
type AdminOptions struct {
	// TokenHashes are SHA-256 hashes of the admin bearer tokens. Without
	// any, the admin API is not served at all.
	TokenHashes [][sha256.Size]byte
	// Quota manages budgets; nil answers 503 on the budget endpoints.
	Quota QuotaAdmin
	// Audit serves the audit trail under /admin/v1/audit, with paths
	// relative to it (audit.Handler); nil serves nothing there.
	Audit http.Handler
}

// adminAPI serves:
//
//	GET    /admin/v1/servers                     the configured servers
//	GET    /admin/v1/servers/{id}/limits         limits in force, and their source
//	PUT    /admin/v1/servers/{id}/limits         override them (JSON ServerLimits)
//	DELETE /admin/v1/servers/{id}/limits         drop the override
//	GET    /admin/v1/servers/{id}/usage?history=N  usage of current and past periods
//	GET    /admin/v1/audit?server=&decision=&reason=&since=&until=&after=&limit=  audit records
//	GET    /admin/v1/audit/checkpoint            the head of this replica's audit chain
type adminAPI struct {
	b     *Broker
	opts  AdminOptions
	fails *failureLimiter
}

func (a *adminAPI) routes(r chi.Router) {
	r.Use(a.authenticate)
	r.Get("/servers", a.listServers)
	r.Route("/servers/{id}", func(r chi.Router) {
		r.Use(a.server)
		r.Get("/limits", a.getLimits)
		r.Put("/limits", a.putLimits)
		r.Delete("/limits", a.deleteLimits)
		r.Get("/usage", a.usage)
	})
	if a.opts.Audit != nil {
		r.Mount("/audit", http.StripPrefix("/admin/v1/audit", a.opts.Audit))
	}
}

func (a *adminAPI) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := remoteAddr(r)
		if !a.fails.allow(addr) {
			adminError(w, &Error{Reason: ReasonAuthThrottled, Msg: "too many failed authentications", RetryAfter: int(a.fails.window.Seconds())})
			return
		}
		token, ok := bearer(r)
		sum := sha256.Sum256([]byte(token))
		match := 0
		for _, h := range a.opts.TokenHashes {
			match |= subtle.ConstantTimeCompare(sum[:], h[:])
		}
		if !ok || match == 0 {
			a.fails.fail(addr)
			adminError(w, Errorf(ReasonUnauthenticated, "missing or unknown admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminAPI) server(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if a.b.servers[id] == nil {
			writeJSONError(w, http.StatusNotFound, "not_found", "no such server")
			return
		}
		if a.opts.Quota == nil {
			adminError(w, Errorf(ReasonUnavailable, "no budget store configured"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *adminAPI) listServers(w http.ResponseWriter, r *http.Request) {
	type server struct {
		ID     string   `json:"id"`
		Models []string `json:"models"`
	}
	out := []server{}
	for _, s := range a.b.servers {
		out = append(out, server{ID: s.ID, Models: s.Policy.Models})
	}
	slices.SortFunc(out, func(x, y server) int { return strings.Compare(x.ID, y.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"servers": out})
}

func (a *adminAPI) getLimits(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	l, source, err := a.opts.Quota.Limits(r.Context(), id)
	if err != nil {
		adminError(w, quotaError(fmt.Errorf("read limits of %s: %w", id, err)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": id, "source": source, "limits": l})
}

func (a *adminAPI) putLimits(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		adminError(w, Errorf(ReasonTooLarge, "limits document larger than 64 KiB"))
		return
	}
	var l ServerLimits
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		adminError(w, Errorf(ReasonInvalidRequest, "limits must be a JSON object with budgets, requestsPerMinute, tokensPerMinute"))
		return
	}
	if err := ValidateLimits(l); err != nil {
		adminError(w, Errorf(ReasonInvalidRequest, "%v", err))
		return
	}
	if err := a.opts.Quota.SetLimits(r.Context(), id, l); err != nil {
		adminError(w, quotaError(fmt.Errorf("set limits of %s: %w", id, err)))
		return
	}
	a.b.log.Info("admin: limits overridden", "server", id)
	writeJSON(w, http.StatusOK, map[string]any{"server": id, "source": "override", "limits": l})
}

func (a *adminAPI) deleteLimits(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := a.opts.Quota.DeleteLimits(r.Context(), id); err != nil {
		adminError(w, quotaError(fmt.Errorf("delete limits of %s: %w", id, err)))
		return
	}
	a.b.log.Info("admin: limits override removed", "server", id)
	a.getLimits(w, r)
}

func (a *adminAPI) usage(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	history := 0
	if h := r.URL.Query().Get("history"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > 366 {
			adminError(w, Errorf(ReasonInvalidRequest, "history must be an integer from 0 to 366"))
			return
		}
		history = n
	}
	u, err := a.opts.Quota.Usage(r.Context(), id, history)
	if err != nil {
		adminError(w, quotaError(fmt.Errorf("read usage of %s: %w", id, err)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": id, "periods": u})
}

// ValidateLimits reports what is wrong with l.
func ValidateLimits(l ServerLimits) error {
	var errs []error
	seen := map[string]bool{}
	for i, b := range l.Budgets {
		switch b.Period {
		case PeriodDay, PeriodWeek, PeriodMonth, PeriodLifetime:
		default:
			errs = append(errs, fmt.Errorf("budgets[%d]: period must be day, week, month or lifetime", i))
		}
		if seen[b.Period] {
			errs = append(errs, fmt.Errorf("budgets[%d]: a second %s budget", i, b.Period))
		}
		seen[b.Period] = true
		if b.MicroUSD < 0 || b.Tokens < 0 {
			errs = append(errs, fmt.Errorf("budgets[%d]: amounts must not be negative", i))
		}
	}
	if l.RequestsPerMinute < 0 || l.TokensPerMinute < 0 {
		errs = append(errs, errors.New("rate limits must not be negative"))
	}
	return errors.Join(errs...)
}

func adminError(w http.ResponseWriter, err error) {
	e := AsError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	msg := e.Msg
	if e.Reason == ReasonInternal {
		msg = "internal error"
	}
	writeJSONError(w, e.Reason.HTTPStatus(), string(e.Reason), msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
