package cards

import (
	"fmt"

	"okrbot/internal/okr"
)

var monthsEN = [...]string{"January", "February", "March", "April", "May", "June",
	"July", "August", "September", "October", "November", "December"}

// monthName names month m (1–12); other numbers read "month N".
func monthName(m int) Text {
	if m < 1 || m > 12 {
		return Text{fmt.Sprintf("%d 月", m), fmt.Sprintf("month %d", m)}
	}
	return Text{fmt.Sprintf("%d 月", m), monthsEN[m-1]}
}

// RuleName says in words what kind of periods r makes, e.g. "Quarterly from
// January" / "季度（1 月起）".
func RuleName(r okr.Rule) Text {
	from := monthName(r.FirstMonth)
	switch {
	case r.Length == 1:
		return Text{"月度", "Monthly"}
	case r.Length == 3:
		return tf("季度（%s起）", "Quarterly from %s", from)
	case r.Length == 6:
		return tf("半年（%s起）", "Half-yearly from %s", from)
	case r.Length == 12:
		return tf("年度（%s起）", "Yearly from %s", from)
	case r.Length > 1:
		return tf("每 %d 个月（%s起）", "Every %d months from %s", r.Length, from)
	}
	return tf("自定义周期（%d 个月）", "Custom period (%d months)", r.Length)
}

// ruleType shows the rule's type from the API: month/year in words, any
// other value escaped.
func ruleType(t string) Text {
	switch t {
	case "month":
		return Text{"按月（month）", "month"}
	case "year":
		return Text{"按年（year）", "year"}
	}
	return same(esc(t, limitShort))
}

// RuleChoice is one rule offered by RulePicker with the value its button
// carries (nil = shown without a button).
type RuleChoice struct {
	Rule  okr.Rule
	Value Value
}

// RulePicker asks which period rule a new period starting in month should
// follow: one button per rule, labelled with RuleName.
func RulePicker(month string, choices []RuleChoice) Card {
	title := tf("为 %s 选择周期规则", "Choose a period rule for %s", plain(month, limitShort))
	if len(choices) == 0 {
		return newCard(orange, title, Text{},
			md(Text{"本租户还没有周期规则，无法创建周期。请 OKR 管理员先在 OKR 管理后台创建周期规则。",
				"This tenant has no period rules yet, so no period can be created. Ask an OKR admin to create one in the OKR admin console first."}))
	}
	rows := make([]any, len(choices))
	for i, c := range choices {
		id := note(tf("规则 ID %s", "Rule ID %s", orDash(esc(c.Rule.ID, limitShort))))
		name := RuleName(c.Rule)
		if b := button(fmt.Sprintf("rule_%d", i+1), btnDefault, name, c.Value); b != nil {
			rows[i] = columnSet(column(0, b), column(1, id))
		} else {
			rows[i] = columnSet(column(0, md(bold(name))), column(1, id))
		}
	}
	rows, dropped := fit(rows)
	els := []any{md(tf("新周期从 **%s** 开始，应按哪个周期规则创建？点击规则即创建周期。",
		"The new period starts in **%s**. Which period rule should it follow? Pressing a rule creates the period.",
		orDash(esc(month, limitShort))))}
	els = append(els, rows...)
	els = append(els, moreLine(dropped, Text{
		"未列出的规则可在命令中直接写明规则 ID（发送 /周期规则 查看）。",
		"To use a rule not listed, name its id in the command (send /rules to see them)."}))
	return newCard(blue, title, Text{}, els...)
}

// RuleList shows the tenant's period rules: name, id, type, length and
// first month.
func RuleList(rules []okr.Rule) Card {
	title := Text{"OKR 周期规则", "OKR period rules"}
	if len(rules) == 0 {
		return newCard(blue, title, Text{}, md(Text{
			"还没有周期规则。请 OKR 管理员在 OKR 管理后台创建。",
			"No period rules yet. An OKR admin creates them in the OKR admin console."}))
	}
	rows := make([][]Text, len(rules))
	for i, r := range rules {
		rows[i] = []Text{
			bold(RuleName(r)),
			same(orDash(esc(r.ID, limitShort))),
			tf("类型 %s · %s · 首月 %s", "type %s · %s · first month %s",
				ruleType(r.Type), units(r.Length, Text{"个月", "month"}), monthName(r.FirstMonth)),
		}
	}
	els := table([]int{3, 4, 3}, []Text{{"规则", "Rule"}, {"规则 ID", "Rule ID"}, {"详情", "Details"}}, rows, 0)
	els = append(els, note(tf("创建周期：%s", "Create a period: %s", same("`/newperiod <month> [period_rule_id]`"))))
	return newCard(blue, title, Text{}, els...)
}
