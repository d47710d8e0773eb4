package cards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the example cards in docs/cards")

// docExamples are the cards the README shows, one of each kind.
func docExamples() map[string]Card {
	quarterly := Rule{ID: "7290000000000000002", Type: "month", Length: 3, FirstMonth: 1}
	sig := func(v Value) Value { v["sig"] = "0123456789abcdef0123456789abcdef"; return v }
	return map[string]Card{
		"created": PeriodCreated(Created{PeriodID: "7301234567890123456", StartMonth: "2022-01", EndMonth: "2022-03",
			Rule: quarterly, RequestedBy: "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"}),
		"conflict": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Code: 1001008, HTTPStatus: 400,
			Msg: "Conflict period existed.", LogID: "20240612153012A1B2C3D4E5F60718293A",
			ShowPeriods: sig(Value{"op": "periods", "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0"})}),
		"transient": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Code: 1009999, HTTPStatus: 500,
			LogID: "20240612153012A1B2C3D4E5F60718293A",
			Retry: sig(Value{"op": "retry", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "n": "1"})}),
		"timeout": Error(Failure{Action: Text{"创建周期 2022-01", "Create period 2022-01"}, Cause: CauseTimeout,
			Retry: sig(Value{"op": "retry", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "n": "1", "t": "1"})}),
		"usage":   Usage(Text{"月份 13 不存在，应为 1–12。", "Month 13 does not exist; use 1–12."}, "/newperiod 2022-13"),
		"refusal": Refusal("ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d", "/newperiod"),
		"late":    Late("/newperiod 2022-01", 3*time.Hour),
		"help":    Help(false),
		"rule-picker": RulePicker("2022-01", []RuleChoice{
			{Rule{ID: "7290000000000000001", Type: "month", Length: 1, FirstMonth: 1}, sig(Value{"op": "pick", "m": "2022-01", "r": "7290000000000000001", "src": "om_9f8e", "n": "1"})},
			{quarterly, sig(Value{"op": "pick", "m": "2022-01", "r": quarterly.ID, "src": "om_9f8e", "n": "1"})},
		}),
		"periods": PeriodList([]PeriodItem{
			{ID: "7301234567890123457", ZhName: "2022 年 4 月 - 6 月", EnName: "Apr - Jun 2022", Status: 0},
			{ID: "7301234567890123456", ZhName: "2022 年 1 月 - 3 月", EnName: "Jan - Mar 2022", Status: 2},
		}, 0),
		"rules": RuleList([]Rule{{ID: "7290000000000000001", Type: "month", Length: 1, FirstMonth: 1}, quarterly,
			{ID: "7290000000000000003", Type: "year", Length: 12, FirstMonth: 1}}),
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
