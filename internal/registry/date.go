package registry

import (
	"fmt"
	"time"

	"github.com/bacgiang/cds/events"
)

// zone is the province's time zone (events.Zone): calendar days, periods and
// deadlines are all reckoned in it.
var zone = events.Zone

// DateLayout is the text form of a Date, as in registry and catalogue files.
const DateLayout = "2006-01-02"

// A Date is a calendar day in the province's time zone, without a time of day.
// The zero Date means "no date": an open end of a validity period.
// Dates are comparable with ==.
type Date struct {
	year  int
	month time.Month
	day   int
}

// NewDate returns the date year-month-day, normalised the way time.Date
// normalises (so NewDate(2025, 2, 29) is 2025-03-01).
func NewDate(year int, month time.Month, day int) Date {
	return dateOfCivil(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// DateOf returns the calendar day on which t falls in the province's time zone.
func DateOf(t time.Time) Date {
	return dateOfCivil(t.In(zone))
}

func dateOfCivil(t time.Time) Date {
	y, m, d := t.Date()
	return Date{year: y, month: m, day: d}
}

// ParseDate parses a date written as YYYY-MM-DD. It rejects the empty string
// and days that do not exist (2025-02-29).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return dateOfCivil(t), nil
}

// Year returns the year of d.
func (d Date) Year() int { return d.year }

// Month returns the month of d.
func (d Date) Month() time.Month { return d.month }

// Day returns the day of the month of d.
func (d Date) Day() int { return d.day }

// IsZero reports whether d is the zero Date ("no date").
func (d Date) IsZero() bool { return d == Date{} }

// String returns d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
// The zero Date is before every other date.
func (d Date) Compare(e Date) int {
	switch {
	case d.year != e.year:
		return cmpInt(d.year, e.year)
	case d.month != e.month:
		return cmpInt(int(d.month), int(e.month))
	default:
		return cmpInt(d.day, e.day)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// Start returns the first instant of d (00:00) in the province's time zone.
func (d Date) Start() time.Time {
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, zone)
}

// AddDays returns the date n days after d (before it for negative n).
func (d Date) AddDays(n int) Date {
	return NewDate(d.year, d.month, d.day+n)
}

// Sub returns the number of days from e to d (negative when d is before e).
func (d Date) Sub(e Date) int {
	a := time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC)
	b := time.Date(e.year, e.month, e.day, 0, 0, 0, 0, time.UTC)
	return int((a.Unix() - b.Unix()) / (24 * 60 * 60))
}

// MarshalText encodes d as YYYY-MM-DD, or as empty text for the zero Date.
// Through it Date is a JSON string ("2025-06-30" or "").
func (d Date) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText decodes YYYY-MM-DD; empty text gives the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
