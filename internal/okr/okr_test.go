package okr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMonthArithmetic(t *testing.T) {
	m := Month{Year: 2022, Month: 11}
	if got := m.AddMonths(2).String(); got != "2023-01" {
		t.Errorf("AddMonths(2) = %s", got)
	}
	if got := m.AddMonths(-11).String(); got != "2021-12" {
		t.Errorf("AddMonths(-11) = %s", got)
	}
	for _, tt := range []struct {
		a, b Month
		n    int
	}{
		{Month{2023, 1}, Month{2023, 12}, 12},
		{Month{2023, 1}, Month{2025, 12}, 36},
		{Month{2023, 6}, Month{2023, 6}, 1},
		{Month{2023, 6}, Month{2023, 1}, 0},
	} {
		if got := tt.a.MonthsUntil(tt.b); got != tt.n {
			t.Errorf("%s.MonthsUntil(%s) = %d, want %d", tt.a, tt.b, got, tt.n)
		}
	}
	if !(Month{}).IsZero() || m.IsZero() {
		t.Error("IsZero")
	}
}

func TestRuleGrid(t *testing.T) {
	for _, tt := range []struct {
		rule        Rule
		first, last Month
		want        string
	}{
		{Rule{Length: 3, FirstMonth: 1}, Month{2023, 1}, Month{2023, 12}, "[2023-01 2023-04 2023-07 2023-10]"},
		{Rule{Length: 1, FirstMonth: 1}, Month{2023, 11}, Month{2024, 2}, "[2023-11 2023-12 2024-01 2024-02]"},
		{Rule{Length: 12, FirstMonth: 12}, Month{2023, 1}, Month{2023, 6}, "[]"},
		{Rule{Length: 12, FirstMonth: 12}, Month{2023, 1}, Month{2023, 12}, "[2023-12]"},
		{Rule{Length: 6, FirstMonth: 7}, Month{2023, 1}, Month{2023, 12}, "[2023-01 2023-07]"},
	} {
		if got := fmt.Sprint(tt.rule.Starts(tt.first, tt.last)); got != tt.want {
			t.Errorf("%+v.Starts(%s, %s) = %s, want %s", tt.rule, tt.first, tt.last, got, tt.want)
		}
	}
	if end := (Rule{Length: 3}).End(Month{2023, 11}); end != (Month{2024, 1}) {
		t.Errorf("End = %s", end)
	}
}

// A period's months are read in the tenant's zone: 2023-04 in Shanghai
// starts on 2023-03-31 in UTC.
func TestPeriodMonthsInTenantZone(t *testing.T) {
	sh := time.FixedZone("Asia/Shanghai", 8*3600)
	p := Period{
		Start: time.Date(2023, 4, 1, 0, 0, 0, 0, sh),
		End:   time.Date(2023, 6, 30, 23, 59, 59, 999e6, sh),
	}
	if s, e := p.Months(sh); s != (Month{2023, 4}) || e != (Month{2023, 6}) {
		t.Errorf("months in Shanghai = %s..%s", s, e)
	}
	if s, _ := p.Months(time.UTC); s != (Month{2023, 3}) {
		t.Errorf("start month in UTC = %s, want 2023-03", s)
	}
}

func TestStatusNormalized(t *testing.T) {
	for in, want := range map[Status]Status{StatusDefault: StatusNormal, StatusNormal: StatusNormal,
		StatusInvalid: StatusInvalid, StatusHidden: StatusHidden} {
		if got := in.Normalized(); got != want {
			t.Errorf("%d.Normalized() = %d, want %d", in, got, want)
		}
	}
}

func TestErrorClassAndCode(t *testing.T) {
	answered := &Error{API: "create_period", Code: 1001008, HTTPStatus: 400, Class: ClassConflict, LogID: "L1"}
	noAnswer := &Error{API: "reply", Class: ClassTransient, Err: fmt.Errorf("%w: dial", ErrNetwork)}
	wrapped := fmt.Errorf("doing it: %w", answered)
	for _, tt := range []struct {
		err   error
		class Class
		code  int
	}{
		{wrapped, ClassConflict, 1001008},
		{noAnswer, ClassTransient, -1},
		{context.DeadlineExceeded, ClassTransient, -1},
		{errors.New("boom"), ClassPermanent, -1},
		{nil, ClassPermanent, 0},
	} {
		if tt.err != nil {
			if got := ClassOf(tt.err); got != tt.class {
				t.Errorf("ClassOf(%v) = %s, want %s", tt.err, got, tt.class)
			}
		}
		if got := CodeOf(tt.err); got != tt.code {
			t.Errorf("CodeOf(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if !errors.Is(noAnswer, ErrNetwork) || noAnswer.Answered() || !noAnswer.MayHaveRun() {
		t.Error("a call without an answer: Is ErrNetwork, not answered, may have run")
	}
	if !answered.Answered() || answered.MayHaveRun() {
		t.Error("a 400 answer: answered, did not run")
	}
	for _, c := range []Class{ClassTransient, ClassRateLimited, ClassTokenInvalid} {
		if !c.Retryable() {
			t.Errorf("%s should be retryable", c)
		}
	}
	for _, c := range []Class{ClassPermanent, ClassNotFound, ClassConflict, ClassFinal} {
		if c.Retryable() {
			t.Errorf("%s should not be retryable", c)
		}
	}
}
