package cards

import (
	"fmt"
	"strings"
	"unicode"

	"okrbot/internal/okr"
)

// Created is what the result card shows.
type Created struct {
	PeriodID, StartMonth, EndMonth string // months "YYYY-MM"
	Rule                           okr.Rule
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

// StatusName says a period's status in words (0 and 1 are both normal:
// the Chinese and English docs disagree on which one means it).
func StatusName(s okr.Status) Text {
	switch s.Normalized() {
	case okr.StatusNormal:
		return Text{"正常", "Normal"}
	case okr.StatusInvalid:
		return Text{"已失效", "Invalid"}
	case okr.StatusHidden:
		return Text{"已隐藏", "Hidden"}
	}
	return tf("状态 %d", "Status %d", int(s))
}

// PeriodRow is one period of PeriodList.
type PeriodRow struct {
	Period     okr.Period
	Start, End string // months "YYYY-MM" in the tenant's zone; empty when unknown
	Manage     Value  // value of the row's "Change status" button; nil = none
}

// PeriodList shows periods as a table (name in the reader's language, id,
// months, status in words, and for operators a button per row that leads
// to the status change); more > 0 adds "and N more not shown".
func PeriodList(items []PeriodRow, more int) Card {
	title := Text{"OKR 周期", "OKR periods"}
	if len(items) == 0 && more <= 0 {
		return newCard(blue, title, Text{}, md(Text{
			"还没有周期。发送 /新建周期 2022-01 创建一个。",
			"No periods yet. Send /newperiod 2022-01 to create one."}))
	}
	// Name and id share a cell, and a row's button sits under its status,
	// so that 20 rows stay well within Feishu's 200 components a card.
	weights := []int{4, 3, 3}
	rows := make([]any, len(items))
	for i, it := range items {
		p := it.Period
		row := tableRow(weights, lines(bold(periodName(p)), same(showID(p.ID))),
			same(months(it.Start, it.End)), StatusName(p.Status))
		if b := smallButton(fmt.Sprintf("manage_%d", i+1), Text{"变更状态", "Change status"}, it.Manage); b != nil {
			last := &row.Columns[len(row.Columns)-1]
			last.Elements = append(last.Elements, b)
		}
		rows[i] = row
	}
	rows, dropped := fit(rows)
	header := tableRow(weights, bold(Text{"周期（名称与 ID）", "Period (name and id)"}),
		bold(Text{"月份", "Months"}), bold(Text{"状态", "Status"}))
	els := append([]any{header}, rows...)
	els = append(els, moreLine(max(more, 0)+dropped, Text{}))
	return newCard(blue, title, Text{}, els...)
}

// periodName is a period's name in each language (escaped), the other
// language's when one is missing, or "(no name)".
func periodName(p okr.Period) Text {
	name := Text{esc(p.ZhName, limitName), esc(p.EnName, limitName)}.filled()
	if name.IsZero() {
		return Text{"（无名称）", "(no name)"}
	}
	return name
}

// months shows a period's months as markdown: "2022-01 – 2022-03", one
// month when start and end are the same, "—" when unknown.
func months(start, end string) string {
	s, e := esc(start, limitShort), esc(end, limitShort)
	switch {
	case s == "" && e == "":
		return "—"
	case e == "" || e == s:
		return s
	case s == "":
		return "— – " + e
	}
	return s + " – " + e
}

// showID is markdown that shows an id from Feishu so it can be copied: a
// plain id (letters, digits, '-' and '_') in a code span, anything else
// escaped, "—" when empty.
func showID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return "—"
	}
	if len(id) > limitShort {
		return esc(id, limitShort)
	}
	for _, r := range id {
		if r != '-' && r != '_' && (r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r)) {
			return esc(id, limitShort)
		}
	}
	return code(id)
}

// sizedButton is a button with a size (JSON 2.0: tiny, small, medium,
// large), for a button in every row of a list.
type sizedButton struct {
	*buttonEl
	Size string `json:"size"`
}

// smallButton is a small default button; a nil value gives nil.
func smallButton(id string, label Text, v Value) any {
	b := button(id, btnDefault, label, v)
	if b == nil {
		return nil
	}
	return sizedButton{b, "small"}
}
