package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// CommandName identifies one chat command.
type CommandName string

// The chat commands (README, "What it does").
const (
	CmdNewPeriod     CommandName = "newperiod"
	CmdClosePeriod   CommandName = "closeperiod"
	CmdHidePeriod    CommandName = "hideperiod"
	CmdRestorePeriod CommandName = "restoreperiod"
	CmdPeriods       CommandName = "periods"
	CmdRules         CommandName = "rules"
	CmdHelp          CommandName = "help"
)

// Command is a parsed chat command.
type Command struct {
	Name  CommandName
	Month okr.Month // newperiod: the (first) start month; status commands: the month named
	Last  okr.Month // newperiod over a span: the last month; zero for one month
	Rule  string    // newperiod: the rule id; empty when the command names none
	// Period is the period id a status command names; empty when it names a
	// month.
	Period string
}

// IsSpan reports whether a newperiod command names a year or a span.
func (c Command) IsSpan() bool { return !c.Last.IsZero() }

// UsageError says what was wrong with a command, in both languages.
type UsageError struct {
	Command    CommandName // the command whose usage to show; empty for an unknown command
	Problem    cards.Text
	Suggestion string // unknown command: the closest known spelling, if close
}

func (e *UsageError) Error() string { return "usage: " + e.Problem.EN }

func usageErr(zh, en string) *UsageError { return &UsageError{Problem: cards.Text{ZH: zh, EN: en}} }

// ErrNotCommand reports text that does not start with a slash.
var ErrNotCommand = errors.New("bot: not a command")

// maxSpan is the longest span /newperiod takes, in months.
const maxSpan = 36

// commandSpec is one row of the command table: how the command is spelled,
// read, explained and run. Parsing, aliases, dispatch and /help all come
// from the table.
type commandSpec struct {
	name        CommandName
	aliases     []string // every accepted spelling, the English one first
	usage       cards.CommandHelp
	changesData bool // only operators may run it
	parse       func(args []string) (Command, *UsageError)
	run         func(b *Bot, ctx context.Context, req request) (cards.Card, result)
}

// commandTable is the bot's commands in the order /help lists them.
type commandTable []commandSpec

func newCommandTable() commandTable {
	status := func(name CommandName, alias string, title, summary cards.Text, s okr.Status) commandSpec {
		return commandSpec{
			name: name, aliases: []string{"/" + string(name), alias}, changesData: true,
			usage: cards.CommandHelp{Usage: "/" + string(name) + " <period_id | month>", Aliases: []string{alias},
				Title: title, Summary: summary, Months: true,
				Examples: []string{"/" + string(name) + " 2023-04", alias + " 7301234567890123456"}},
			parse: parsePeriodTarget,
			run: func(b *Bot, ctx context.Context, req request) (cards.Card, result) {
				return b.askStatusChange(ctx, req, s)
			},
		}
	}
	return commandTable{
		{
			name: CmdNewPeriod, aliases: []string{"/newperiod", "/新建周期"}, changesData: true,
			usage: cards.CommandHelp{
				Usage: "/newperiod <month | year | month..month> [period_rule_id]", Aliases: []string{"/新建周期"},
				Title: cards.Text{ZH: "新建周期", EN: "Create periods"},
				Summary: cards.Text{
					ZH: "创建从该月开始的 OKR 周期；写年份或“起..止”月份则创建其间规则允许的每个周期。仅限操作员。",
					EN: "Creates the OKR period starting that month; a year or a span (first..last) creates every period of the rule in it. Operators only."},
				Examples: []string{"/newperiod 2022-01", "/新建周期 2023年", "/newperiod 2023-01..2023-06"},
				Months:   true,
			},
			parse: parseNewPeriod,
			run:   (*Bot).runNewPeriod,
		},
		status(CmdClosePeriod, "/关闭周期", cards.Text{ZH: "关闭周期", EN: "Close a period"},
			cards.Text{ZH: "把周期标记为失效（全租户生效），确认后执行。仅限操作员。",
				EN: "Marks the period invalid for the whole tenant, after you confirm. Operators only."}, okr.StatusInvalid),
		status(CmdHidePeriod, "/隐藏周期", cards.Text{ZH: "隐藏周期", EN: "Hide a period"},
			cards.Text{ZH: "隐藏周期（全租户生效），确认后执行。仅限操作员。",
				EN: "Hides the period for the whole tenant, after you confirm. Operators only."}, okr.StatusHidden),
		status(CmdRestorePeriod, "/恢复周期", cards.Text{ZH: "恢复周期", EN: "Restore a period"},
			cards.Text{ZH: "把失效或隐藏的周期恢复为正常，确认后执行。仅限操作员。",
				EN: "Makes an invalid or hidden period normal again, after you confirm. Operators only."}, okr.StatusNormal),
		{
			name: CmdPeriods, aliases: []string{"/periods", "/周期列表"},
			usage: cards.CommandHelp{Usage: "/periods", Aliases: []string{"/周期列表"},
				Title:    cards.Text{ZH: "周期列表", EN: "List periods"},
				Summary:  cards.Text{ZH: "列出本租户的 OKR 周期：名称、ID、月份、状态。", EN: "Lists the tenant's OKR periods: name, id, months and status."},
				Examples: []string{"/periods"}},
			parse: noArgs(CmdPeriods),
			run:   (*Bot).runListPeriods,
		},
		{
			name: CmdRules, aliases: []string{"/rules", "/周期规则"},
			usage: cards.CommandHelp{Usage: "/rules", Aliases: []string{"/周期规则"},
				Title:    cards.Text{ZH: "周期规则", EN: "List period rules"},
				Summary:  cards.Text{ZH: "列出周期规则：ID、类型、长度、首月。", EN: "Lists the period rules: id, type, length and first month."},
				Examples: []string{"/rules"}},
			parse: noArgs(CmdRules),
			run:   (*Bot).runListRules,
		},
		{
			name: CmdHelp, aliases: []string{"/help", "/帮助"},
			usage: cards.CommandHelp{Usage: "/help", Aliases: []string{"/帮助"},
				Title:    cards.Text{ZH: "帮助", EN: "Help"},
				Summary:  cards.Text{ZH: "显示这张卡片。", EN: "Shows this card."},
				Examples: []string{"/help"}},
			parse: noArgs(CmdHelp),
			run: func(b *Bot, _ context.Context, _ request) (cards.Card, result) {
				return b.helpCard(), result{outcome: "ok"}
			},
		},
	}
}

// byName returns the row of a command the table holds.
func (t commandTable) byName(n CommandName) commandSpec {
	for _, c := range t {
		if c.name == n {
			return c
		}
	}
	panic(fmt.Sprintf("bot: command %q is not in the table", n))
}

// help lists the commands for the help and usage cards.
func (t commandTable) help() []cards.CommandHelp {
	out := make([]cards.CommandHelp, len(t))
	for i, c := range t {
		out[i] = c.usage
	}
	return out
}

// lookup finds the command spelled name (lower-cased).
func (t commandTable) lookup(name string) (commandSpec, bool) {
	for _, c := range t {
		if slices.Contains(c.aliases, name) {
			return c, true
		}
	}
	return commandSpec{}, false
}

// suggest returns the spelling closest to name when it is near enough to
// be a typo ("/newperiods", "/peroids"), or "".
func (t commandTable) suggest(name string) string {
	best, bestD := "", 3
	for _, c := range t {
		for _, a := range c.aliases {
			if d := editDistance(name, a); d < bestD {
				best, bestD = a, d
			}
		}
	}
	return best
}

// parse reads normalised message text into a command.
func (t commandTable) parse(text string) (Command, error) {
	fields := strings.Fields(Normalize(text))
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		return Command{}, ErrNotCommand
	}
	name := strings.ToLower(fields[0])
	spec, ok := t.lookup(name)
	if !ok {
		e := usageErr("不认识这个命令。", "Unknown command.")
		e.Suggestion = t.suggest(name)
		return Command{}, e
	}
	cmd, uerr := spec.parse(fields[1:])
	cmd.Name = spec.name
	if uerr != nil {
		uerr.Command = spec.name
		return cmd, uerr
	}
	return cmd, nil
}

// ParseCommand parses message text. It returns ErrNotCommand for text that
// does not start with "/", and a *UsageError for a command it cannot read.
func ParseCommand(text string) (Command, error) { return newCommandTable().parse(text) }

func noArgs(name CommandName) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) > 0 {
			return Command{}, usageErr(
				fmt.Sprintf("/%s 不需要参数。", name),
				fmt.Sprintf("/%s takes no arguments.", name))
		}
		return Command{}, nil
	}
}

// parseNewPeriod reads "<month | year | first..last> [rule]".
func parseNewPeriod(args []string) (Command, *UsageError) {
	// "2023-01 .. 2023-06" typed with spaces around the separator.
	if len(args) >= 3 && (args[1] == ".." || args[1] == "~") {
		args = append([]string{args[0] + ".." + args[2]}, args[3:]...)
	}
	var cmd Command
	if len(args) == 0 {
		return cmd, usageErr("缺少起始月份。", "The start month is missing.")
	}
	if len(args) > 2 {
		return cmd, usageErr(
			fmt.Sprintf("参数太多：最多两个（月份和周期规则 ID），收到 %d 个。", len(args)),
			fmt.Sprintf("Too many arguments: at most two (month and period rule id), got %d.", len(args)))
	}
	first, last, err := parseSpan(args[0])
	if err != nil {
		return cmd, err
	}
	cmd.Month, cmd.Last = first, last
	if len(args) == 2 {
		if !validID(args[1]) {
			return cmd, usageErr(
				"周期规则 ID 应为数字，可用 /rules 查看。",
				"The period rule id should be a number; /rules lists them.")
		}
		cmd.Rule = args[1]
	}
	return cmd, nil
}

// parseSpan reads a month, a year ("2023", "2023年") or a span of two
// months joined by ".." or "~".
func parseSpan(s string) (first, last okr.Month, _ *UsageError) {
	s = strings.NewReplacer("～", "~", "。。", "..").Replace(s)
	if y, ok := parseYear(s); ok {
		if y < minYear || y > maxYear {
			return first, last, yearRange(y)
		}
		return okr.Month{Year: y, Month: 1}, okr.Month{Year: y, Month: 12}, nil
	}
	a, b, isSpan := strings.Cut(s, "..")
	if !isSpan {
		a, b, isSpan = strings.Cut(s, "~")
	}
	if !isSpan {
		m, err := ParseMonth(s)
		return m, okr.Month{}, err
	}
	first, err := ParseMonth(a)
	if err != nil {
		return first, last, err
	}
	last, err = ParseMonth(b)
	if err != nil {
		return first, last, err
	}
	switch n := first.MonthsUntil(last); {
	case n == 0:
		return first, last, usageErr(
			fmt.Sprintf("起始月份 %s 晚于结束月份 %s。", first, last),
			fmt.Sprintf("The first month %s is after the last month %s.", first, last))
	case n > maxSpan:
		return first, last, usageErr(
			fmt.Sprintf("时间跨度为 %d 个月，最多 %d 个月。", n, maxSpan),
			fmt.Sprintf("The span covers %d months; at most %d.", n, maxSpan))
	}
	return first, last, nil
}

// parseYear reads "2023" or "2023年".
func parseYear(s string) (int, bool) {
	s = strings.TrimSuffix(digitsASCII(s), "年")
	if len(s) != 4 || !allDigits(s) {
		return 0, false
	}
	y, _ := strconv.Atoi(s)
	return y, true
}

// parsePeriodTarget reads the argument of a status command: a period id or
// a month.
func parsePeriodTarget(args []string) (Command, *UsageError) {
	var cmd Command
	switch {
	case len(args) == 0:
		return cmd, usageErr("缺少周期 ID 或月份。", "The period id or month is missing.")
	case len(args) > 1:
		return cmd, usageErr(
			fmt.Sprintf("参数太多：只需要一个周期 ID 或月份，收到 %d 个。", len(args)),
			fmt.Sprintf("Too many arguments: give one period id or month, got %d.", len(args)))
	}
	if m, err := ParseMonth(args[0]); err == nil {
		cmd.Month = m
		return cmd, nil
	}
	if len(args[0]) > 6 && validID(args[0]) {
		cmd.Period = args[0]
		return cmd, nil
	}
	return cmd, usageErr(
		"看不懂这个周期：请写周期 ID（/periods 可查看）或起始月份，如 2023-04。",
		"Can't read that period: give its id (/periods lists them) or its start month, like 2023-04.")
}

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

// validID accepts the decimal ids Feishu uses (19 digits today) with room
// to spare, and nothing that could smuggle other text along.
func validID(s string) bool {
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

// The years the bot accepts.
const (
	minYear = 1970
	maxYear = 2100
)

func yearRange(y int) *UsageError {
	return usageErr(
		fmt.Sprintf("年份 %d 超出范围（%d–%d）。", y, minYear, maxYear),
		fmt.Sprintf("Year %d is out of range (%d–%d).", y, minYear, maxYear))
}

// digitsASCII turns full-width digits into ASCII ones.
func digitsASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, strings.TrimSpace(s))
}

// ParseMonth reads a month written as 2022-01, 2022-1, 2022/01, 202201 or
// 2022年1月 (full-width digits allowed).
func ParseMonth(s string) (okr.Month, *UsageError) {
	s = digitsASCII(s)
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
		return okr.Month{}, badMonth()
	}
	ys, ms = strings.TrimSpace(ys), strings.TrimSpace(ms)
	if len(ys) != 4 || len(ms) < 1 || len(ms) > 2 || !allDigits(ys) || !allDigits(ms) {
		return okr.Month{}, badMonth()
	}
	y, _ := strconv.Atoi(ys)
	mo, _ := strconv.Atoi(ms)
	if y < minYear || y > maxYear {
		return okr.Month{}, yearRange(y)
	}
	if mo < 1 || mo > 12 {
		return okr.Month{}, usageErr(
			fmt.Sprintf("月份 %d 不存在，应为 1–12。", mo),
			fmt.Sprintf("Month %d does not exist; use 1–12.", mo))
	}
	return okr.Month{Year: y, Month: mo}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) || r > '9' {
			return false
		}
	}
	return true
}

// badMonth does not quote the input: the card shows what was typed,
// escaped, next to it.
func badMonth() *UsageError {
	return usageErr(
		"看不懂这个月份，请写成 2022-01 这样的格式（整年写 2023，跨度写 2023-01..2023-06）。",
		"Can't read the month; write it like 2022-01 (a whole year: 2023; a span: 2023-01..2023-06).")
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
