package bot_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"okrbot/bot"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

func TestAuditTrail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Audit.Path = path }))
	created := env.Say(t, "/newperiod 2022-01 "+monthly)
	env.ReplyTo(t, created.MessageID)
	refused := env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-02 " + monthly, SenderOpenID: testkit.Stranger})
	env.ReplyTo(t, refused.MessageID)
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APICreatePeriod, Code: 1009999, Status: 500})
	failed := env.Say(t, "/newperiod 2022-03 "+monthly)
	reply := env.ReplyTo(t, failed.MessageID)
	env.Click(t, reply, "retry", testkit.Operator)
	env.Settle(t)
	env.Say(t, "/periods") // reading is not audited
	env.Settle(t)

	recs := readAudit(t, path)
	want := []struct{ operator, outcome, via, month string }{
		{testkit.Operator, "created", "message", "2022-01"},
		{testkit.Stranger, "refused", "message", "2022-02"},
		{testkit.Operator, "failed", "message", "2022-03"},
		{testkit.Operator, "created", "button", "2022-03"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d: %+v", len(recs), len(want), recs)
	}
	periods := env.Emu.Periods()
	for i, w := range want {
		r := recs[i]
		if r.Operator != w.operator || r.Outcome != w.outcome || r.Via != w.via || r.Args[0] != w.month ||
			r.Command != "newperiod" || r.ChatID == "" || r.Time.IsZero() {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
		if w.outcome == "created" && (r.PeriodID == "" || r.LogID == "") {
			t.Errorf("record %d lacks period or log id: %+v", i, r)
		}
	}
	if recs[0].PeriodID != periods[0].ID || recs[2].Code != 1009999 {
		t.Errorf("records %+v / %+v", recs[0], recs[2])
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.Audit.Path = filepath.Join(t.TempDir(), "a.jsonl") }))
	d := env.Say(t, "/newperiod 2022-01 "+monthly)
	env.ReplyTo(t, d.MessageID)
	env.Emu.RevokeTokens()
	env.Say(t, "/newperiod 2022-01 "+monthly) // conflict, after a token refetch
	env.Post(t, feishuemu.UserMessage{Text: "/newperiod 2022-05", SenderOpenID: testkit.Stranger})
	env.Emu.Inject(feishuemu.Fault{API: feishuemu.APIReply, Status: 500, Times: 3})
	env.Say(t, "/rules")
	env.Settle(t)
	secrets := []string{testkit.AppSecret, testkit.VerificationToken, testkit.EncryptKey}
	secrets = append(secrets, env.Emu.Tokens()...)
	logs := env.Logs.String()
	if len(logs) < 500 {
		t.Fatalf("suspiciously little logged: %q", logs)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret is in the logs: %q", s)
		}
	}
	if strings.Contains(logs, `"t-`) || strings.Contains(logs, "Bearer") {
		t.Error("a tenant token is in the logs")
	}
}

// readAudit returns the audit records written to path.
func readAudit(t *testing.T, path string) []bot.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []bot.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r bot.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}
