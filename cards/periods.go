package cards

// Created is what the result card shows.
type Created struct {
	PeriodID, StartMonth, EndMonth string // months "YYYY-MM"
	Rule                           Rule
	RequestedBy                    string // open_id of the requester
	Note                           Text   // optional extra line (e.g. "confirmed after a timeout"); zero = none
}

// PeriodCreated is the result card of /newperiod: the new period's id, start
// and end month, the rule used (id and kind in words) and who asked.
func PeriodCreated(c Created) Card {
	start, end := esc(c.StartMonth, limitShort), esc(c.EndMonth, limitShort)
	els := grid(
		field{Text{"周期 ID", "Period ID"}, same(orDash(esc(c.PeriodID, limitShort)))},
		field{Text{"发起人", "Requested by"}, same(orDash(mention(c.RequestedBy)))},
		field{Text{"起始月份", "Start month"}, same(orDash(start))},
		field{Text{"结束月份", "End month"}, same(orDash(end))},
		field{Text{"周期规则", "Period rule"}, tf("%s\n规则 ID %s", "%s\nRule ID %s",
			RuleName(c.Rule), orDash(esc(c.Rule.ID, limitShort)))},
	)
	if !c.Note.IsZero() {
		els = append(els, note(c.Note))
	}
	return newCard(green, Text{"OKR 周期已创建", "OKR period created"},
		tf("%s 至 %s", "%s to %s", orDash(plain(c.StartMonth, limitShort)), orDash(plain(c.EndMonth, limitShort))),
		els...)
}

// orDash stands in for an empty value.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// PeriodItem is one period of PeriodList.
type PeriodItem struct {
	ID, ZhName, EnName string
	Status             int
}

// statusName says a period's status in words (0 and 1 are both normal:
// the Chinese and English docs disagree on which one means it).
func statusName(s int) Text {
	switch s {
	case 0, 1:
		return Text{"正常", "Normal"}
	case 2:
		return Text{"已失效", "Invalid"}
	case 3:
		return Text{"已隐藏", "Hidden"}
	}
	return tf("状态 %d", "Status %d", s)
}

// PeriodList shows periods as a table (name in the reader's language, id,
// status); more > 0 adds "and N more not shown".
func PeriodList(items []PeriodItem, more int) Card {
	title := Text{"OKR 周期", "OKR periods"}
	if len(items) == 0 && more <= 0 {
		return newCard(blue, title, Text{}, md(Text{
			"还没有周期。发送 /新建周期 2022-01 创建一个。",
			"No periods yet. Send /newperiod 2022-01 to create one."}))
	}
	rows := make([][]Text, len(items))
	for i, it := range items {
		name := Text{esc(it.ZhName, limitName), esc(it.EnName, limitName)}.filled()
		if name.IsZero() {
			name = Text{"（无名称）", "(no name)"}
		}
		rows[i] = []Text{bold(name), same(orDash(esc(it.ID, limitShort))), statusName(it.Status)}
	}
	els := table([]int{4, 4, 2}, []Text{{"名称", "Name"}, {"周期 ID", "Period ID"}, {"状态", "Status"}}, rows, more)
	return newCard(blue, title, Text{}, els...)
}
