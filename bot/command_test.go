package bot

import (
	"errors"
	"testing"

	"okrbot/internal/okr"
)

func TestParseMonth(t *testing.T) {
	good := map[string]string{
		"2022-01":   "2022-01",
		"2022-1":    "2022-01",
		"2022/01":   "2022-01",
		"2022/1":    "2022-01",
		"202201":    "2022-01",
		"2022年1月":   "2022-01",
		"2022年01月":  "2022-01",
		"２０２２年１２月":  "2022-12",
		"2022-12":   "2022-12",
		" 2030-07 ": "2030-07",
	}
	for in, want := range good {
		m, err := ParseMonth(in)
		if err != nil || m.String() != want {
			t.Errorf("ParseMonth(%q) = %v, %v; want %s", in, m, err, want)
		}
	}
	bad := []string{"", "2022-13", "2022-00", "2022", "22-01", "january", "2022-1-1", "20221", "2022013",
		"2022年13月", "2022年月", "1969-12", "2022--1", "-2022-01", "2022-0x", "2022/13", "2022-1a", "二〇二二年一月"}
	for _, in := range bad {
		if m, err := ParseMonth(in); err == nil {
			t.Errorf("ParseMonth(%q) = %v, want an error", in, m)
		} else if !errors.As(err, new(*UsageError)) {
			t.Errorf("ParseMonth(%q) error %v is not a *UsageError", in, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text    string
		want    Command
		usage   bool // a *UsageError is expected
		problem string
		cmd     CommandName // the command whose usage the error shows
		suggest string      // "did you mean"
	}{
		{text: "/newperiod 2022-01", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2022, Month: 1}}},
		{text: "/newperiod 2022年3月 7290000000000000002", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2022, Month: 3}, Rule: "7290000000000000002"}},
		{text: "／newperiod\u30002022/04", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2022, Month: 4}}},
		{text: "/新建周期 202205", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2022, Month: 5}}},
		{text: "  /NewPeriod   2022-6  ", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2022, Month: 6}}},
		{text: "/periods", want: Command{Name: CmdPeriods}},
		{text: "/周期列表", want: Command{Name: CmdPeriods}},
		{text: "/rules", want: Command{Name: CmdRules}},
		{text: "／周期规则", want: Command{Name: CmdRules}},
		{text: "/help", want: Command{Name: CmdHelp}},
		{text: "/帮助", want: Command{Name: CmdHelp}},
		{text: "/newperiod", usage: true, problem: "The start month is missing."},
		{text: "/newperiod 2022-13", usage: true, problem: "Month 13 does not exist; use 1–12."},
		{text: "/newperiod soon", usage: true, problem: "Can't read the month; write it like 2022-01 (a whole year: 2023; a span: 2023-01..2023-06)."},
		{text: "/newperiod 2022-01 123 extra", usage: true, problem: "Too many arguments: at most two (month and period rule id), got 3."},
		{text: "/newperiod 2022-01 <at>", usage: true, problem: "The period rule id should be a number; /rules lists them."},
		{text: "/periods now", usage: true, problem: "/periods takes no arguments.", cmd: CmdPeriods},
		{text: "/help me", usage: true, problem: "/help takes no arguments.", cmd: CmdHelp},
		{text: "/newperiod 2023", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2023, Month: 1}, Last: okr.Month{Year: 2023, Month: 12}}},
		{text: "/新建周期 2023年 7290000000000000002", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2023, Month: 1}, Last: okr.Month{Year: 2023, Month: 12}, Rule: "7290000000000000002"}},
		{text: "/newperiod 2023-01..2023-06", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2023, Month: 1}, Last: okr.Month{Year: 2023, Month: 6}}},
		{text: "/newperiod 2023年1月~2023年6月", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2023, Month: 1}, Last: okr.Month{Year: 2023, Month: 6}}},
		{text: "/newperiod 2023-01 .. 2025-12", want: Command{Name: CmdNewPeriod, Month: okr.Month{Year: 2023, Month: 1}, Last: okr.Month{Year: 2025, Month: 12}}},
		{text: "/newperiod 2023-01..2026-01", usage: true, problem: "The span covers 37 months; at most 36.", cmd: CmdNewPeriod},
		{text: "/newperiod 2023-06..2023-01", usage: true, problem: "The first month 2023-06 is after the last month 2023-01.", cmd: CmdNewPeriod},
		{text: "/newperiod 2999", usage: true, problem: "Year 2999 is out of range (1970–2100).", cmd: CmdNewPeriod},
		{text: "/closeperiod 2023-04", want: Command{Name: CmdClosePeriod, Month: okr.Month{Year: 2023, Month: 4}}},
		{text: "/隐藏周期 7301234567890123456", want: Command{Name: CmdHidePeriod, Period: "7301234567890123456"}},
		{text: "/恢复周期 2023年4月", want: Command{Name: CmdRestorePeriod, Month: okr.Month{Year: 2023, Month: 4}}},
		{text: "/关闭周期", usage: true, problem: "The period id or month is missing.", cmd: CmdClosePeriod},
		{text: "/hideperiod 1 2", usage: true, problem: "Too many arguments: give one period id or month, got 2.", cmd: CmdHidePeriod},
		{text: "/hideperiod soon", usage: true, problem: "Can't read that period: give its id (/periods lists them) or its start month, like 2023-04.", cmd: CmdHidePeriod},
		{text: "/deleteall", usage: true, problem: "Unknown command."},
		{text: "/newperiods 2022-01", usage: true, problem: "Unknown command.", suggest: "/newperiod"},
		{text: "/peroids", usage: true, problem: "Unknown command.", suggest: "/periods"},
		{text: "/okr", usage: true, problem: "Unknown command."},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.text)
		var ue *UsageError
		if tt.usage {
			if !errors.As(err, &ue) {
				t.Errorf("ParseCommand(%q) error = %v, want a usage error", tt.text, err)
				continue
			}
			if ue.Problem.EN != tt.problem || ue.Problem.ZH == "" {
				t.Errorf("ParseCommand(%q) problem = %+v, want EN %q and a Chinese text", tt.text, ue.Problem, tt.problem)
			}
			if tt.cmd != "" && ue.Command != tt.cmd {
				t.Errorf("ParseCommand(%q) usage of %q, want %q", tt.text, ue.Command, tt.cmd)
			}
			if ue.Suggestion != tt.suggest {
				t.Errorf("ParseCommand(%q) suggests %q, want %q", tt.text, ue.Suggestion, tt.suggest)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", tt.text, got, err, tt.want)
		}
	}
	for _, text := range []string{"", "hello", "newperiod 2022-01", "  "} {
		if _, err := ParseCommand(text); !errors.Is(err, ErrNotCommand) {
			t.Errorf("ParseCommand(%q) error = %v, want ErrNotCommand", text, err)
		}
	}
}

func TestStripMentions(t *testing.T) {
	msg := Message{Text: "@_user_1 /newperiod 2022-01 @_user_10", Mentions: []Mention{{Key: "@_user_1"}, {Key: "@_user_10"}}}
	if got := msg.commandText(); got != "/newperiod 2022-01" {
		t.Errorf("commandText() = %q", got)
	}
}

func TestMonthAddAndFits(t *testing.T) {
	if got := (okr.Month{Year: 2022, Month: 11}).AddMonths(2).String(); got != "2023-01" {
		t.Errorf("AddMonths = %s", got)
	}
	quarterly := okr.Rule{Length: 3, FirstMonth: 1}
	for m, want := range map[int]bool{1: true, 2: false, 4: true, 10: true, 12: false} {
		if got := quarterly.Fits(okr.Month{Year: 2022, Month: m}); got != want {
			t.Errorf("quarterly.Fits(%d) = %v", m, got)
		}
	}
	yearlyDec := okr.Rule{Length: 12, FirstMonth: 12}
	if !yearlyDec.Fits(okr.Month{Year: 2022, Month: 12}) || yearlyDec.Fits(okr.Month{Year: 2022, Month: 1}) {
		t.Error("yearly-from-December grid wrong")
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/newperiod 2022-01", "/新建周期 2022年1月 1", "／help", "/newperiod 2022/1 7290000000000000001", "/periods x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := ParseCommand(s)
		if err != nil {
			return
		}
		if cmd.Name == CmdNewPeriod {
			if cmd.Month.Month < 1 || cmd.Month.Month > 12 || len(cmd.Month.String()) != 7 {
				t.Fatalf("ParseCommand(%q) accepted month %v", s, cmd.Month)
			}
			if cmd.IsSpan() && (cmd.Last.Before(cmd.Month) || cmd.Month.MonthsUntil(cmd.Last) > maxSpan) {
				t.Fatalf("ParseCommand(%q) accepted span %v..%v", s, cmd.Month, cmd.Last)
			}
			if cmd.Rule != "" && !validID(cmd.Rule) {
				t.Fatalf("ParseCommand(%q) accepted rule %q", s, cmd.Rule)
			}
		}
	})
}
