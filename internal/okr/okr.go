// Package okr holds the domain values okrbot works with: calendar months,
// period rules, periods and their statuses, and the failure of an Open
// Platform call as the use cases see it. It depends on nothing but the
// standard library, so every layer can speak it.
package okr

import (
	"fmt"
	"time"
)

// Month is a calendar month.
type Month struct {
	Year  int
	Month int // 1..12
}

// String formats the month as Feishu expects it: "2022-01".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, m.Month) }

// IsZero reports whether m is the zero Month.
func (m Month) IsZero() bool { return m == Month{} }

// AddMonths returns the month n months after m.
func (m Month) AddMonths(n int) Month {
	i := m.index() + n
	return Month{Year: i / 12, Month: i%12 + 1}
}

// Before reports whether m comes before o.
func (m Month) Before(o Month) bool { return m.index() < o.index() }

// MonthsUntil counts the months from m to o, both included (0 when o is
// before m).
func (m Month) MonthsUntil(o Month) int { return max(o.index()-m.index()+1, 0) }

func (m Month) index() int { return m.Year*12 + m.Month - 1 }

// MonthOf returns the month t falls in, in loc (UTC when loc is nil).
func MonthOf(t time.Time, loc *time.Location) Month {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	return Month{Year: t.Year(), Month: int(t.Month())}
}

// Rule is an OKR period rule.
type Rule struct {
	ID         string
	Type       string // "month" or "year"
	Length     int    // months in one period
	FirstMonth int    // first start month of the year, 1..12
}

// Fits reports whether a period of this rule may start in m.
func (r Rule) Fits(m Month) bool {
	if r.Length <= 0 {
		return true
	}
	return ((m.Month-r.FirstMonth)%r.Length+r.Length)%r.Length == 0
}

// End returns the last month of the rule's period that starts in start.
func (r Rule) End(start Month) Month { return start.AddMonths(max(r.Length, 1) - 1) }

// Starts lists the months from first to last (both included) in which a
// period of the rule may start.
func (r Rule) Starts(first, last Month) []Month {
	var out []Month
	for m := first; !last.Before(m); m = m.AddMonths(1) {
		if r.Fits(m) {
			out = append(out, m)
		}
	}
	return out
}

// Status is a period's status as the list API reports it. The Chinese and
// English docs disagree on 0 and 1; both mean the period is in use.
type Status int

// The statuses a period may have. PATCH takes Normal, Invalid or Hidden.
const (
	StatusDefault Status = 0 // a freshly created period
	StatusNormal  Status = 1
	StatusInvalid Status = 2 // 标记失效
	StatusHidden  Status = 3 // 隐藏
)

// Normalized folds StatusDefault into StatusNormal, so that "already in
// that status" compares like with like.
func (s Status) Normalized() Status {
	if s == StatusDefault {
		return StatusNormal
	}
	return s
}

// Period is an OKR period as listed by the Open Platform.
type Period struct {
	ID             string
	ZhName, EnName string
	Status         Status
	Start, End     time.Time
}

// Months returns the period's first and last month in the tenant's zone.
func (p Period) Months(loc *time.Location) (Month, Month) {
	return MonthOf(p.Start, loc), MonthOf(p.End, loc)
}

// Created is a period the Open Platform has just created.
type Created struct {
	PeriodID   string
	StartMonth string
	EndMonth   string
	LogID      string
}
