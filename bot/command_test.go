package bot

import (
	"errors"
	"testing"
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
	}{
		{text: "/newperiod 2022-01", want: Command{Name: CmdNewPeriod, Month: Month{2022, 1}}},
		{text: "/newperiod 2022年3月 7290000000000000002", want: Command{Name: CmdNewPeriod, Month: Month{2022, 3}, Rule: "7290000000000000002"}},
		{text: "／newperiod\u30002022/04", want: Command{Name: CmdNewPeriod, Month: Month{2022, 4}}},
		{text: "/新建周期 202205", want: Command{Name: CmdNewPeriod, Month: Month{2022, 5}}},
		{text: "  /NewPeriod   2022-6  ", want: Command{Name: CmdNewPeriod, Month: Month{2022, 6}}},
		{text: "/periods", want: Command{Name: CmdPeriods}},
		{text: "/周期列表", want: Command{Name: CmdPeriods}},
		{text: "/rules", want: Command{Name: CmdRules}},
		{text: "／周期规则", want: Command{Name: CmdRules}},
		{text: "/help", want: Command{Name: CmdHelp}},
		{text: "/帮助", want: Command{Name: CmdHelp}},
		{text: "/newperiod", usage: true, problem: "The start month is missing."},
		{text: "/newperiod 2022-13", usage: true, problem: "Month 13 does not exist; use 1–12."},
		{text: "/newperiod soon", usage: true, problem: "Can't read the month; write it like 2022-01."},
		{text: "/newperiod 2022-01 123 extra", usage: true, problem: "Too many arguments: at most two (month and period rule id), got 3."},
		{text: "/newperiod 2022-01 <at>", usage: true, problem: "The period rule id should be a number; /rules lists them."},
		{text: "/periods now", usage: true, problem: "This command takes no arguments."},
		{text: "/deleteall", usage: true, problem: "Unknown command."},
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
	if got := (Month{2022, 11}).AddMonths(2).String(); got != "2023-01" {
		t.Errorf("AddMonths = %s", got)
	}
	quarterly := Rule{Length: 3, FirstMonth: 1}
	for m, want := range map[int]bool{1: true, 2: false, 4: true, 10: true, 12: false} {
		if got := quarterly.Fits(Month{2022, m}); got != want {
			t.Errorf("quarterly.Fits(%d) = %v", m, got)
		}
	}
	yearlyDec := Rule{Length: 12, FirstMonth: 12}
	if !yearlyDec.Fits(Month{2022, 12}) || yearlyDec.Fits(Month{2022, 1}) {
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
			if cmd.Rule != "" && !validRuleID(cmd.Rule) {
				t.Fatalf("ParseCommand(%q) accepted rule %q", s, cmd.Rule)
			}
		}
	})
}
