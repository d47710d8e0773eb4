package bot

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"okrbot/cards"
)

// CommandName identifies one chat command.
type CommandName string

// The chat commands of spec §4.
const (
	CmdNewPeriod CommandName = "newperiod"
	CmdPeriods   CommandName = "periods"
	CmdRules     CommandName = "rules"
	CmdHelp      CommandName = "help"
)

// aliases maps every accepted spelling (after normalisation) to its command.
var aliases = map[string]CommandName{
	"/newperiod": CmdNewPeriod,
	"/新建周期":      CmdNewPeriod,
	"/periods":   CmdPeriods,
	"/周期列表":      CmdPeriods,
	"/rules":     CmdRules,
	"/周期规则":      CmdRules,
	"/help":      CmdHelp,
	"/帮助":        CmdHelp,
}

// Command is a parsed chat command.
type Command struct {
	Name  CommandName
	Month Month  // CmdNewPeriod only
	Rule  string // CmdNewPeriod only; empty when the command names none
}

// ChangesData reports whether running the command changes tenant data,
// so that only operators may run it.
func (c Command) ChangesData() bool { return c.Name == CmdNewPeriod }

// UsageError says what was wrong with a command, in both languages.
type UsageError struct{ Problem cards.Text }

func (e *UsageError) Error() string { return "usage: " + e.Problem.EN }

func usageErr(zh, en string) error { return &UsageError{cards.Text{ZH: zh, EN: en}} }

// ErrNotCommand reports text that does not start with a slash.
var ErrNotCommand = errors.New("bot: not a command")

// Normalize turns full-width slashes and spaces into their ASCII forms,
// trims, and folds runs of white space, so that text typed with a Chinese
// input method reads like the same text typed in ASCII.
func Normalize(text string) string {
	text = strings.Map(func(r rune) rune {
		switch r {
		case '／':
			return '/'
		case '\u3000':
			return ' '
		}
		return r
	}, text)
	return strings.Join(strings.Fields(text), " ")
}

// StripMentions removes mention placeholders such as "@_user_1" (and "@_all")
// from message text.
func StripMentions(text string, keys []string) string {
	// Longest first, so "@_user_1" does not eat the start of "@_user_10".
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	for _, k := range keys {
		if k != "" {
			text = strings.ReplaceAll(text, k, " ")
		}
	}
	return text
}

// ParseCommand parses normalised message text. It returns ErrNotCommand for
// text that does not start with "/", and a *UsageError for a command it
// cannot read.
func ParseCommand(text string) (Command, error) {
	fields := strings.Fields(Normalize(text))
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		return Command{}, ErrNotCommand
	}
	name, ok := aliases[strings.ToLower(fields[0])]
	if !ok {
		return Command{}, usageErr("不认识这个命令。", "Unknown command.")
	}
	args := fields[1:]
	cmd := Command{Name: name}
	switch name {
	case CmdNewPeriod:
		if len(args) == 0 {
			return cmd, usageErr("缺少起始月份。", "The start month is missing.")
		}
		if len(args) > 2 {
			return cmd, usageErr(
				fmt.Sprintf("参数太多：最多两个（月份和周期规则 ID），收到 %d 个。", len(args)),
				fmt.Sprintf("Too many arguments: at most two (month and period rule id), got %d.", len(args)))
		}
		m, err := ParseMonth(args[0])
		if err != nil {
			return cmd, err
		}
		cmd.Month = m
		if len(args) == 2 {
			if !validRuleID(args[1]) {
				return cmd, usageErr(
					"周期规则 ID 应为数字，可用 /rules 查看。",
					"The period rule id should be a number; /rules lists them.")
			}
			cmd.Rule = args[1]
		}
	default:
		if len(args) > 0 {
			return cmd, usageErr("这个命令不需要参数。", "This command takes no arguments.")
		}
	}
	return cmd, nil
}

// validRuleID accepts the decimal ids Feishu uses (19 digits today) with
// room to spare, and nothing that could smuggle other text along.
func validRuleID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

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
	i := m.Year*12 + m.Month - 1 + n
	return Month{Year: i / 12, Month: i%12 + 1}
}

// ParseMonth reads a month written as 2022-01, 2022-1, 2022/01, 202201 or
// 2022年1月 (full-width digits allowed).
func ParseMonth(s string) (Month, error) {
	s = strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, strings.TrimSpace(s))
	var ys, ms string
	switch {
	case strings.HasSuffix(s, "月") && strings.Contains(s, "年"):
		ys, ms, _ = strings.Cut(strings.TrimSuffix(s, "月"), "年")
	case strings.ContainsAny(s, "-/"):
		sep := "-"
		if strings.Contains(s, "/") {
			sep = "/"
		}
		ys, ms, _ = strings.Cut(s, sep)
	case len(s) == 6:
		ys, ms = s[:4], s[4:]
	default:
		return Month{}, errBadMonth
	}
	ys, ms = strings.TrimSpace(ys), strings.TrimSpace(ms)
	if len(ys) != 4 || len(ms) < 1 || len(ms) > 2 || !allDigits(ys) || !allDigits(ms) {
		return Month{}, errBadMonth
	}
	y, _ := strconv.Atoi(ys)
	mo, _ := strconv.Atoi(ms)
	if y < 1970 || y > 2100 {
		return Month{}, usageErr(
			fmt.Sprintf("年份 %d 超出范围（1970–2100）。", y),
			fmt.Sprintf("Year %d is out of range (1970–2100).", y))
	}
	if mo < 1 || mo > 12 {
		return Month{}, usageErr(
			fmt.Sprintf("月份 %d 不存在，应为 1–12。", mo),
			fmt.Sprintf("Month %d does not exist; use 1–12.", mo))
	}
	return Month{Year: y, Month: mo}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) || r > '9' {
			return false
		}
	}
	return true
}

// errBadMonth does not quote the input: the card shows what was typed,
// escaped, next to it.
var errBadMonth = usageErr(
	"看不懂这个月份，请写成 2022-01 这样的格式。",
	"Can't read the month; write it like 2022-01.")
