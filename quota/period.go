package quota

import (
	"fmt"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

// periodNames are the periods every request is metered in, whatever the
// budgets: counting them all keeps a budget exact from the moment it is
// set, even mid-period, and lets Usage report periods without a budget.
var periodNames = [...]string{broker.PeriodDay, broker.PeriodWeek, broker.PeriodMonth, broker.PeriodLifetime}

// period is one calendar period in a zone: [Start, End). Lifetime has zero
// Start and End.
type period struct {
	Name  string
	ID    string // e.g. "day:2026-11-24", "week:2026-W48", "month:2026-11", "lifetime"
	Start time.Time
	End   time.Time
}

// periodAt returns the period called name that holds t, with calendar
// boundaries at midnight in loc. Weeks start on Monday and are named by
// their ISO 8601 week.
func periodAt(name string, t time.Time, loc *time.Location) (period, error) {
	y, m, d := t.In(loc).Date()
	switch name {
	case broker.PeriodDay:
		return period{
			Name:  name,
			ID:    fmt.Sprintf("day:%04d-%02d-%02d", y, m, d),
			Start: dayStart(y, m, d, loc),
			End:   dayStart(y, m, d+1, loc),
		}, nil
	case broker.PeriodWeek:
		monday := d - (int(t.In(loc).Weekday())+6)%7
		wy, wk := time.Date(y, m, monday, 12, 0, 0, 0, time.UTC).ISOWeek()
		return period{
			Name:  name,
			ID:    fmt.Sprintf("week:%04d-W%02d", wy, wk),
			Start: dayStart(y, m, monday, loc),
			End:   dayStart(y, m, monday+7, loc),
		}, nil
	case broker.PeriodMonth:
		return period{
			Name:  name,
			ID:    fmt.Sprintf("month:%04d-%02d", y, m),
			Start: dayStart(y, m, 1, loc),
			End:   dayStart(y, m+1, 1, loc),
		}, nil
	case broker.PeriodLifetime:
		return period{Name: name, ID: broker.PeriodLifetime}, nil
	}
	return period{}, fmt.Errorf("unknown budget period %q", name)
}

// previous returns the period before p; lifetime has none.
func (p period) previous(loc *time.Location) (period, bool) {
	if p.Name == broker.PeriodLifetime {
		return period{}, false
	}
	q, err := periodAt(p.Name, p.Start.Add(-time.Nanosecond), loc)
	return q, err == nil
}

// periodHistory returns the period called name that holds t followed by up
// to n earlier ones, newest first.
func periodHistory(name string, t time.Time, loc *time.Location, n int) ([]period, error) {
	p, err := periodAt(name, t, loc)
	if err != nil {
		return nil, err
	}
	out := []period{p}
	for range n {
		q, ok := p.previous(loc)
		if !ok {
			break
		}
		out = append(out, q)
		p = q
	}
	return out, nil
}

// dayStart is the first instant of the (normalized) date y-m-d in loc. That
// is usually midnight, but where a DST change skips midnight (Santiago,
// Havana, Beirut) the day starts when the clocks jump, and time.Date may
// then answer an instant of the previous day.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	wy, wm, wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Date()
	if gy, gm, gd := t.Date(); gy == wy && gm == wm && gd == wd {
		return t
	}
	if _, end := t.ZoneBounds(); !end.IsZero() {
		if ey, em, ed := end.Date(); ey == wy && em == wm && ed == wd {
			return end
		}
	}
	return t
}
