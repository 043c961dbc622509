package audit

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// Filter selects records by their event. Zero fields match everything.
type Filter struct {
	Chain    string
	Server   string
	Decision string
	Reason   string
	// Since and Until bound the event's time: Since <= time < Until.
	Since, Until time.Time
}

// head is the part of an event a Filter looks at.
type head struct {
	Time     time.Time     `json:"time"`
	Server   string        `json:"server"`
	Decision string        `json:"decision"`
	Reason   broker.Reason `json:"reason"`
}

func (f *Filter) match(r *Record, h *head) bool {
	return (f.Chain == "" || r.Chain == f.Chain) &&
		(f.Server == "" || h.Server == f.Server) &&
		(f.Decision == "" || h.Decision == f.Decision) &&
		(f.Reason == "" || string(h.Reason) == f.Reason) &&
		(f.Since.IsZero() || !h.Time.Before(f.Since)) &&
		(f.Until.IsZero() || h.Time.Before(f.Until))
}

// Page is one page of a query.
type Page struct {
	Records []Record `json:"records"`
	// Next is the cursor to read the next page from; empty at the end.
	Next string `json:"next,omitempty"`
}

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// maxScan bounds the records one page reads; a page that reaches it
	// ends early with a Next cursor, so a narrow filter over a long trail
	// costs several short requests instead of one long one.
	maxScan = 50_000
	// lateness is the longest an event can take from its time to its
	// write (the slowest request): a query with Until stops reading once
	// events are later than Until by more than this.
	lateness = time.Hour
)

// seeker is a Source that can start reading at a time.
type seeker interface {
	CursorAt(t time.Time) string
}

// Query returns the records of src matching f, oldest first, after the
// cursor after ("" for the first page), at most limit of them (default
// DefaultLimit, at most MaxLimit). Malformed records are passed over: it
// is Verify's job to report them.
func Query(ctx context.Context, src Source, f Filter, after string, limit int) (Page, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if s, ok := src.(seeker); ok && after == "" && !f.Since.IsZero() {
		after = s.CursorAt(f.Since)
	}
	page := Page{Records: []Record{}}
	scanned, seen := 0, ""
	for r, err := range src.Records(ctx, after) {
		var me *MalformedError
		if err != nil && !errors.As(err, &me) {
			return Page{}, err
		}
		scanned++
		if r.Cursor != "" {
			seen = r.Cursor
		}
		if me == nil {
			var h head
			if err := json.Unmarshal(r.Event, &h); err == nil {
				if !f.Until.IsZero() && h.Time.After(f.Until.Add(lateness)) {
					return page, nil
				}
				if f.match(&r, &h) {
					r.raw = nil
					page.Records = append(page.Records, r)
				}
			}
		}
		if len(page.Records) == limit || scanned == maxScan {
			// An unparsable file line has no cursor: go on from the last
			// record that had one.
			page.Next = seen
			return page, nil
		}
	}
	return page, nil
}
