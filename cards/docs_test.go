package cards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"okrbot/internal/okr"
)

var update = flag.Bool("update", false, "rewrite the example cards in docs/cards")

// docExamples are the cards the README shows, one of each kind.
func docExamples() map[string]Card {
	quarterly := okr.Rule{ID: "7290000000000000002", Type: "month", Length: 3, FirstMonth: 1}
	monthly := okr.Rule{ID: "7290000000000000001", Type: "month", Length: 1, FirstMonth: 1}
	const (
		operator = "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
		logID    = "20240612153012A1B2C3D4E5F60718293A"
		src      = "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	)
	var created12 []SpanItem
	for m := 1; m <= 12; m++ {
		month := fmt.Sprintf("2023-%02d", m)
		created12 = append(created12, SpanItem{Start: month, End: month, Outcome: SpanCreated, PeriodID: fmt.Sprint(7302000000000000000 + m)})
	}
	q1 := okr.Period{ID: "7301234567890123456", ZhName: "2022 年 1 月 - 3 月", EnName: "Jan - Mar 2022", Status: okr.StatusNormal}
	q2 := okr.Period{ID: "7301234567890123457", ZhName: "2022 年 4 月 - 6 月", EnName: "Apr - Jun 2022", Status: okr.StatusDefault}
	closeQ1 := StatusChange{Period: q1, Start: "2022-01", End: "2022-03", To: okr.StatusInvalid, RequestedBy: operator}
	sig := func(v Value) Value { v["sig"] = "0123456789abcdef0123456789abcdef"; return v }
	return map[string]Card{
		"created": PeriodCreated(Created{PeriodID: "7301234567890123456", StartMonth: "2022-01", EndMonth: "2022-03",
			Rule: quarterly, RequestedBy: "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"}),
		"conflict": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Code: 1001008, HTTPStatus: 400, Class: okr.ClassConflict,
			Msg: "Conflict period existed.", LogID: "20240612153012A1B2C3D4E5F60718293A",
			ShowPeriods: sig(Value{"op": "periods", "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0"})}),
		"transient": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Code: 1009999, HTTPStatus: 500, Class: okr.ClassTransient,
			LogID: "20240612153012A1B2C3D4E5F60718293A",
			Retry: sig(Value{"op": "retry", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "n": "1"})}),
		"timeout": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Cause: CauseTimeout,
			Retry: sig(Value{"op": "retry", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "n": "1", "t": "1"})}),
		"usage":           Usage(Text{"月份 13 不存在，应为 1–12。", "Month 13 does not exist; use 1–12."}, "/newperiod 2022-13", testCommands[0]),
		"unknown-command": UnknownCommand("/newperiods 2022-01", "/newperiod", testCommands),
		"refusal":         Refusal("ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", "/newperiod"),
		"late":            Late("/newperiod 2022-01", 3*time.Hour),
		"help":            Help(testCommands, false),
		"rule-picker": RulePicker("2022-01", []RuleChoice{
			{monthly, sig(Value{"op": "pick", "m": "2022-01", "r": monthly.ID, "src": "om_9f8e", "n": "1"})},
			{quarterly, sig(Value{"op": "pick", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e", "n": "1"})},
		}),
		"periods": PeriodList([]PeriodRow{
			{Period: q2, Start: "2022-04", End: "2022-06", Manage: sig(Value{"op": "manage", "p": q2.ID, "src": src})},
			{Period: okr.Period{ID: q1.ID, ZhName: q1.ZhName, EnName: q1.EnName, Status: okr.StatusInvalid}, Start: "2022-01", End: "2022-03",
				Manage: sig(Value{"op": "manage", "p": q1.ID, "src": src})},
		}, 0),
		"rules": RuleList([]okr.Rule{monthly, quarterly,
			{ID: "7290000000000000003", Type: "year", Length: 12, FirstMonth: 1}}),
		"span-created": SpanSummary(Span{First: "2023-01", Last: "2023-12", Rule: monthly, Items: created12, RequestedBy: operator}),
		"span-partial": SpanSummary(Span{First: "2023-01", Last: "2023-12", Rule: quarterly, RequestedBy: operator,
			Items: []SpanItem{
				{Start: "2023-01", End: "2023-03", Outcome: SpanExists},
				{Start: "2023-04", End: "2023-06", Outcome: SpanCreated, PeriodID: "7302000000000000004"},
				{Start: "2023-07", End: "2023-09", Outcome: SpanFailed, Failure: Failure{Code: 1009999, HTTPStatus: 500,
					Msg: "unknown error", LogID: logID, Class: okr.ClassTransient}},
				{Start: "2023-10", End: "2023-12", Outcome: SpanCreated, PeriodID: "7302000000000000010"},
			},
			Retry: sig(Value{"op": "span_retry", "first": "2023-01", "last": "2023-12", "r": quarterly.ID, "src": src, "n": "1"})}),
		"confirm-status": ConfirmStatus(closeQ1,
			sig(Value{"op": "status_confirm", "p": q1.ID, "to": "2", "src": src}),
			sig(Value{"op": "status_cancel", "p": q1.ID, "to": "2", "src": src})),
		"status-changed": StatusChanged(closeQ1, operator),
		"period-actions": PeriodActions(q1, "2022-01", "2022-03", map[okr.Status]Value{
			okr.StatusInvalid: sig(Value{"op": "status_ask", "p": q1.ID, "to": "2", "src": src}),
			okr.StatusHidden:  sig(Value{"op": "status_ask", "p": q1.ID, "to": "3", "src": src}),
		}),
	}
}

// TestDocExamples keeps the example cards in docs/cards in step with the
// builders (go test ./cards -run DocExamples -update rewrites them), and
// checks each is a card Feishu accepts.
func TestDocExamples(t *testing.T) {
	for name, card := range docExamples() {
		raw, err := json.MarshalIndent(card, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := card.Encode(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		path := filepath.Join("..", "docs", "cards", name+".json")
		if *update {
			if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./cards -run DocExamples -update)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(want), raw) {
			t.Errorf("docs/cards/%s.json is stale: run go test ./cards -run DocExamples -update", name)
		}
	}
}
