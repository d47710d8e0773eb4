package cards

import (
	"fmt"
	"strings"
	"time"
)

var (
	monthFormats = Text{
		"**月份格式**：`2022-01`、`2022-1`、`2022/01`、`202201`、`2022年1月`",
		"**Month formats:** `2022-01`, `2022-1`, `2022/01`, `202201`, `2022年1月`"}
	helpHint = Text{"发送 /帮助 查看全部命令。", "Send /help to see all commands."}
)

// CommandHelp is one chat command as /help and the usage cards show it.
// The bot's command table fills it, so help, usage and parsing agree.
type CommandHelp struct {
	Usage    string   // e.g. "/newperiod <month> [period_rule_id]"
	Aliases  []string // other spellings, e.g. "/新建周期"
	Title    Text     // e.g. "Create a period"
	Summary  Text     // what it does, who may run it
	Examples []string // typed examples
	Months   bool     // takes a month: show the month formats
}

// code puts bot-made text in a code span, so that <…> and […] show
// literally.
func code(s string) string { return "`" + s + "`" }

// codes lists ss as code spans, joined as each language writes a list.
func codes(ss []string) Text {
	spans := make([]string, len(ss))
	for i, s := range ss {
		spans[i] = code(s)
	}
	return Text{strings.Join(spans, "、"), strings.Join(spans, ", ")}
}

// usageText is a command's syntax, aliases and examples.
func usageText(c CommandHelp) Text {
	t := tf("**用法**：%s", "**Usage:** %s", code(c.Usage))
	if len(c.Aliases) > 0 {
		t = tf("%s（别名 %s）", "%s (alias %s)", t, codes(c.Aliases))
	}
	ls := []Text{t}
	if len(c.Examples) > 0 {
		ls = append(ls, tf("**示例**：%s", "**Examples:** %s", codes(c.Examples)))
	}
	if c.Months {
		ls = append(ls, monthFormats)
	}
	return lines(ls...)
}

// Usage answers a command the bot could not read: what was wrong (problem,
// bot-made), what was typed (escaped), and that command's usage.
func Usage(problem Text, typed string, c CommandHelp) Card {
	if problem.IsZero() {
		problem = Text{"命令格式不正确。", "The command is not in the expected form."}
	}
	return newCard(orange, Text{"无法识别该命令", "Can't read that command"}, Text{},
		md(lines(
			tf("**问题**：%s", "**Problem:** %s", problem),
			tf("**你输入的**：%s", "**You typed:** %s", orEmpty(esc(typed, limitLine))),
		)),
		hr(),
		md(usageText(c)),
		note(helpHint),
	)
}

// UnknownCommand answers a slash command the bot does not know: the list of
// commands and, when the typed name is close to one, "did you mean".
func UnknownCommand(typed, suggestion string, cmds []CommandHelp) Card {
	els := []any{md(tf("**你输入的**：%s", "**You typed:** %s", orEmpty(esc(typed, limitLine))))}
	if suggestion != "" {
		els = append(els, md(tf("你是不是想输入 %s？", "Did you mean %s?", same(code(suggestion)))))
	}
	list := make([]Text, len(cmds))
	for i, c := range cmds {
		list[i] = tf("%s · %s", "%s · %s", same(code(c.Usage)), c.Title)
	}
	els = append(els, hr(), md(tf("**可用的命令**\n%s", "**Commands**\n%s", lines(list...))), note(helpHint))
	return newCard(orange, Text{"不认识这个命令", "Unknown command"}, Text{}, els...)
}

// orEmpty shows an empty value as "(empty)".
func orEmpty(s string) Text {
	if s == "" {
		return Text{"（空）", "(empty)"}
	}
	return same(s)
}

// Refusal answers a user who may not run command: it shows their open_id and
// how an admin grants access.
func Refusal(openID, command string) Card {
	return newCard(red, Text{"你无权执行此命令", "You can't run this command"}, Text{},
		md(lines(
			tf("**命令**：%s", "**Command:** %s", orEmpty(esc(command, limitLine))),
			Text{"只有操作员可以执行会修改数据的命令（例如新建周期）。",
				"Only operators may run commands that change data, such as creating a period."},
		)),
		md(tf("**你的 open_id**：%s", "**Your open_id:** %s", orDash(showOpenID(openID)))),
		md(Text{"**如何获得权限**：请机器人管理员把你的 open_id 加入配置项 `access.operators`（或环境变量 `OKRBOT_OPERATORS`，多个用逗号分隔），然后重启机器人。",
			"**How to get access:** ask the bot's admin to add your open_id to `access.operators` in the bot's config (or to the `OKRBOT_OPERATORS` environment variable, comma-separated), then restart the bot."}),
	)
}

// Late answers a command that arrived age after it was sent: it was not
// executed and should be sent again.
func Late(command string, age time.Duration) Card {
	return newCard(orange, Text{"命令送达过晚，未执行", "Command arrived late and was not run"}, Text{},
		md(tf("**命令**：%s", "**Command:** %s", orEmpty(esc(command, limitLine)))),
		md(tf("这条命令在发出约 **%s** 后才送达机器人，因此**没有执行**，以免执行过时或重复的操作。",
			"This command reached the bot about **%s** after it was sent, so it was **not executed**, to avoid acting on a stale or repeated request.",
			humanAge(age))),
		md(Text{"如仍需要，请**重新发送**这条命令。", "If you still need it, **send it again**."}),
	)
}

// humanAge rounds d to the units a person would use: seconds under a
// minute, minutes under an hour, hours and minutes under two days, then days
// and hours.
func humanAge(d time.Duration) Text {
	d = max(d, 0)
	s := int((d + time.Second/2) / time.Second)
	m := int((d + time.Minute/2) / time.Minute)
	h := int((d + time.Hour/2) / time.Hour)
	second, minute, hour, day := Text{"秒", "second"}, Text{"分钟", "minute"}, Text{"小时", "hour"}, Text{"天", "day"}
	switch {
	case s < 60:
		return units(s, second)
	case m < 60:
		return units(m, minute)
	case d < 48*time.Hour:
		return units2(m/60, hour, m%60, minute)
	}
	return units2(h/24, day, h%24, hour)
}

// units is "n unit(s)" / "n 单位".
func units(n int, unit Text) Text {
	en := unit.EN
	if n != 1 {
		en += "s"
	}
	return Text{fmt.Sprintf("%d %s", n, unit.ZH), fmt.Sprintf("%d %s", n, en)}
}

// units2 is a larger and a smaller unit together; a smaller unit of zero is
// left out.
func units2(n int, unit Text, small int, smallUnit Text) Text {
	if small == 0 {
		return units(n, unit)
	}
	return tf("%s %s", "%s %s", units(n, unit), units(small, smallUnit))
}

// Help lists every command with its aliases and examples, and says whether
// a default period rule is configured.
func Help(cmds []CommandHelp, defaultRule bool) Card {
	rule := Text{"未配置默认周期规则：命令中不写规则 ID 时，机器人会列出规则按钮供你选择。",
		"No default period rule is configured: without a rule id, the bot shows the rules as buttons to choose from."}
	if defaultRule {
		rule = Text{"已配置默认周期规则：命令中不写规则 ID 时使用默认规则。",
			"A default period rule is configured: it is used when the command names no rule id."}
	}
	els := make([]any, 0, len(cmds)+3)
	for _, c := range cmds {
		c.Months = false
		els = append(els, md(lines(tf("**%s**", "**%s**", c.Title), c.Summary, usageText(c))))
	}
	return newCard(blue, Text{"OKR 机器人命令", "OKR bot commands"}, Text{},
		append(els,
			hr(),
			md(lines(monthFormats, rule)),
			note(Text{"在群聊中请先 @ 机器人再输入命令；私聊可直接输入。",
				"In a group chat, @-mention the bot before the command; in a private chat just type it."}),
		)...)
}

// Level sets the colour and default title of a Notice.
type Level int

// Notice levels.
const (
	LevelInfo Level = iota
	LevelWarning
	LevelError
	LevelSuccess
)

// Notice is a generic message card (e.g. "This button has expired",
// "Working on it…"). title and body are bot-made; a zero title gets the
// level's default, a zero body gives a header-only card.
func Notice(level Level, title, body Text) Card {
	template, def := blue, Text{"提示", "Notice"}
	switch level {
	case LevelWarning:
		template, def = orange, Text{"注意", "Warning"}
	case LevelError:
		template, def = red, Text{"出错了", "Error"}
	case LevelSuccess:
		template, def = green, Text{"完成", "Done"}
	}
	if title.IsZero() {
		title = def
	}
	return newCard(template, title, Text{}, optMD(body))
}
