package quota

import (
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the host's zoneinfo

	"github.com/airlock-broker/airlock/broker"
	"github.com/google/go-cmp/cmp"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestPeriodAt(t *testing.T) {
	type want struct {
		id         string
		start, end string // RFC 3339 in the zone
	}
	tests := []struct {
		name   string
		zone   string
		period string
		at     string
		want   want
	}{
		{"utc day", "UTC", "day", "2026-11-24T10:00:00Z", want{"day:2026-11-24", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"}},
		{"day at midnight", "UTC", "day", "2026-11-24T00:00:00Z", want{"day:2026-11-24", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"}},
		{"day last instant", "UTC", "day", "2026-11-24T23:59:59.999999999Z", want{"day:2026-11-24", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z"}},
		{"utc instant in a zone's next day", "Asia/Tokyo", "day", "2026-11-24T20:00:00Z", want{"day:2026-11-25", "2026-11-25T00:00:00+09:00", "2026-11-26T00:00:00+09:00"}},
		{"week mid", "UTC", "week", "2026-11-26T10:00:00Z", want{"week:2026-W48", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"}},
		{"week sunday", "UTC", "week", "2026-11-29T23:00:00Z", want{"week:2026-W48", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"}},
		{"week across new year", "UTC", "week", "2027-01-02T10:00:00Z", want{"week:2026-W53", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"}},
		{"iso week 1 starts in december", "UTC", "week", "2025-12-31T10:00:00Z", want{"week:2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"}},
		{"month", "UTC", "month", "2026-11-30T23:59:59Z", want{"month:2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"}},
		{"december", "UTC", "month", "2026-12-31T12:00:00Z", want{"month:2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"february leap", "UTC", "month", "2028-02-29T12:00:00Z", want{"month:2028-02", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"}},
		{"lifetime", "UTC", "lifetime", "2026-11-24T10:00:00Z", want{"lifetime", "", ""}},
		// 23-hour and 25-hour days.
		{"spring forward", "America/New_York", "day", "2026-03-08T12:00:00-04:00", want{"day:2026-03-08", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
		{"fall back", "America/New_York", "day", "2026-11-01T01:30:00-05:00", want{"day:2026-11-01", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"}},
		{"week over a DST change", "Europe/Berlin", "week", "2026-03-29T12:00:00+02:00", want{"week:2026-W13", "2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		{"month over a DST change", "Europe/Berlin", "month", "2026-10-31T12:00:00+01:00", want{"month:2026-10", "2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00"}},
		// Midnight does not exist: the day starts when the clocks jump.
		{"midnight skipped", "America/Santiago", "day", "2022-09-11T12:00:00-03:00", want{"day:2022-09-11", "2022-09-11T01:00:00-03:00", "2022-09-12T00:00:00-03:00"}},
		{"day before a skipped midnight", "America/Santiago", "day", "2022-09-10T23:30:00-04:00", want{"day:2022-09-10", "2022-09-10T00:00:00-04:00", "2022-09-11T01:00:00-03:00"}},
		{"month starting at a skipped midnight", "America/Havana", "month", "2023-03-12T10:00:00-04:00", want{"month:2023-03", "2023-03-01T00:00:00-05:00", "2023-04-01T00:00:00-04:00"}},
		// Midnight happens twice: the day is the first midnight's.
		{"midnight repeated", "America/Sao_Paulo", "day", "2019-02-16T23:30:00-03:00", want{"day:2019-02-16", "2019-02-16T00:00:00-02:00", "2019-02-17T00:00:00-03:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustZone(t, tt.zone)
			at, err := time.Parse(time.RFC3339Nano, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			p, err := periodAt(tt.period, at, loc)
			if err != nil {
				t.Fatal(err)
			}
			got := want{p.ID, format(p.Start, loc), format(p.End, loc)}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("periodAt(%s, %s) (-want +got):\n%s", tt.period, tt.at, diff)
			}
		})
	}
}

func format(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(time.RFC3339)
}

func TestPeriodAtUnknown(t *testing.T) {
	if _, err := periodAt("fortnight", time.Now(), time.UTC); err == nil {
		t.Error("a fortnight is not a budget period")
	}
}

// TestPeriodsTile walks two years period by period through zones with DST
// quirks: each period holds its first and last instant and every instant in
// between (probed each 97 minutes), and the next period starts where it ends.
func TestPeriodsTile(t *testing.T) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "America/Santiago", "America/Havana", "America/Sao_Paulo", "Asia/Beirut", "Australia/Lord_Howe", "Pacific/Apia"}
	for _, z := range zones {
		loc := mustZone(t, z)
		for _, name := range []string{broker.PeriodDay, broker.PeriodWeek, broker.PeriodMonth} {
			at := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
			end := at.AddDate(2, 0, 0)
			p, err := periodAt(name, at, loc)
			if err != nil {
				t.Fatal(err)
			}
			for p.Start.Before(end) {
				probes := []time.Time{p.Start, p.End.Add(-time.Nanosecond)}
				for at := p.Start; at.Before(p.End); at = at.Add(97 * time.Minute) {
					probes = append(probes, at)
				}
				for _, at := range probes {
					if q, _ := periodAt(name, at, loc); q != p {
						t.Fatalf("%s: %s is in %s [%s, %s), not %s [%s, %s)", z, at, q.ID, q.Start, q.End, p.ID, p.Start, p.End)
					}
				}
				next, _ := periodAt(name, p.End, loc)
				if next.Start != p.End || next.ID == p.ID || !next.Start.Before(next.End) {
					t.Fatalf("%s: %s ends %s but the next period %s is [%s, %s)", z, p.ID, p.End, next.ID, next.Start, next.End)
				}
				if prev, _ := next.previous(loc); prev != p {
					t.Fatalf("%s: the period before %s is %s, not %s", z, next.ID, prev.ID, p.ID)
				}
				p = next
			}
		}
	}
}

func TestPeriodHistory(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		period string
		n      int
		want   []string
	}{
		{"day", 3, []string{"day:2026-03-02", "day:2026-03-01", "day:2026-02-28", "day:2026-02-27"}},
		{"week", 2, []string{"week:2026-W10", "week:2026-W09", "week:2026-W08"}},
		{"month", 3, []string{"month:2026-03", "month:2026-02", "month:2026-01", "month:2025-12"}},
		{"lifetime", 5, []string{"lifetime"}},
		{"day", 0, []string{"day:2026-03-02"}},
	}
	for _, tt := range tests {
		ps, err := periodHistory(tt.period, at, time.UTC, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.ID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("periodHistory(%s, %d) (-want +got):\n%s", tt.period, tt.n, diff)
		}
	}
}
