package bot

// Unit tests of the use cases against the small fakes of fakes_test.go:
// no emulator, no network, a fixed clock. The end-to-end tests (package
// bot_test) drive the same paths through the Feishu emulator.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai wherever the tests run

	dto "github.com/prometheus/client_model/go"

	"okrbot/internal/okr"
	"okrbot/internal/testkit/fakeclock"
)

const (
	unitOperator = "ou_operator01"
	unitOther    = "ou_someone02"
	unitBotID    = "ou_thebot03"
	unitChat     = "oc_chat_a"
	unitChatB    = "oc_chat_b"
	unitPeriodID = "7300000000000000001"
)

var (
	quarterly = okr.Rule{ID: "7001", Type: "month", Length: 3, FirstMonth: 1}
	monthly   = okr.Rule{ID: "7002", Type: "month", Length: 1, FirstMonth: 1}
	unitNow   = time.Date(2023, 3, 15, 2, 0, 0, 0, time.UTC)
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// unit is one bot wired to fresh fakes.
type unit struct {
	t       *testing.T
	bot     *Bot
	set     Settings
	periods *fakePeriods
	msgr    *fakeMessenger
	id      *fakeIdentity
	store   *fakeStore
	audit   *fakeAuditor
	clock   *fakeclock.Clock
	metrics *Metrics
	events  int
}

// newUnit builds a bot with an operator, a default quarterly rule and the
// tenant in Asia/Shanghai; tweak adjusts settings and deps before New.
func newUnit(t *testing.T, tweak ...func(*Settings, *Deps)) *unit {
	t.Helper()
	loc := shanghai(t)
	u := &unit{
		t:       t,
		periods: newFakePeriods(loc, quarterly, monthly),
		msgr:    &fakeMessenger{},
		id:      &fakeIdentity{id: unitBotID},
		store:   newFakeStore(),
		audit:   &fakeAuditor{},
		clock:   fakeclock.New(unitNow),
	}
	s := Settings{
		Operators: []string{unitOperator}, DefaultRuleID: quarterly.ID, MaxMessageAge: 10 * time.Minute,
		ButtonKey: []byte("unit-test-key"), Location: loc, Workers: 4,
	}
	d := Deps{Periods: u.periods, Messenger: u.msgr, Identity: u.id, Store: u.store, Audit: u.audit, Now: u.clock.Now}
	for _, f := range tweak {
		f(&s, &d)
	}
	u.set, u.metrics = s, d.Metrics
	u.bot = New(s, d)
	t.Cleanup(func() {
		u.periods.release()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := u.bot.Shutdown(ctx); err != nil && !errors.Is(err, ErrNotFinished) {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return u
}

// msg is a text message of the operator in a private chat, sent a second
// ago.
func (u *unit) msg(n int, text string) Message {
	return Message{
		EventID: fmt.Sprintf("ev_%d", n), MessageID: fmt.Sprintf("om_%d", n), ChatID: unitChat, ChatType: "p2p",
		SenderOpenID: unitOperator, SenderType: "user", MessageType: "text", Text: text,
		CreateTime: u.clock.Now().Add(-time.Second),
	}
}

// groupMsg is msg in a group chat, mentioning the bot.
func (u *unit) groupMsg(n int, text string) Message {
	m := u.msg(n, "@_user_1 "+text)
	m.ChatType = "group"
	m.Mentions = []Mention{{Key: "@_user_1", OpenID: unitBotID}}
	return m
}

// send hands m to the bot and requires it taken.
func (u *unit) send(m Message) {
	u.t.Helper()
	if err := u.bot.HandleMessage(context.Background(), m); err != nil {
		u.t.Fatalf("HandleMessage(%s): %v", m.MessageID, err)
	}
}

// ask sends m and returns the card it was answered with.
func (u *unit) ask(m Message) cardView {
	u.t.Helper()
	before := len(u.msgr.replies())
	u.send(m)
	got := u.msgr.waitReplies(u.t, before+1)
	last := got[len(got)-1]
	if last.To != m.MessageID {
		u.t.Fatalf("reply went to %s, want %s", last.To, m.MessageID)
	}
	return viewCard(u.t, last.Card)
}

// click presses a button with value v as operator in chat.
func (u *unit) click(v map[string]any, operator, chat string) Answer {
	u.t.Helper()
	if v == nil {
		u.t.Fatal("no such button on the card")
	}
	u.events++
	a, err := u.bot.HandleClick(context.Background(), Click{
		EventID: fmt.Sprintf("ev_click_%d", u.events), Operator: operator, MessageID: "om_bot_card",
		ChatID: chat, Token: "c-token", Value: v,
	})
	if err != nil {
		u.t.Fatalf("HandleClick: %v", err)
	}
	return a
}

// drain shuts the bot down and requires that everything taken has run.
func (u *unit) drain() {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := u.bot.Shutdown(ctx); err != nil {
		u.t.Fatalf("Shutdown: %v", err)
	}
	if n := u.bot.Pending(); n != 0 {
		u.t.Fatalf("Pending() = %d after Shutdown", n)
	}
}

// waitEntered waits until a CreatePeriod call has begun.
func (u *unit) waitEntered() createCall {
	u.t.Helper()
	select {
	case c := <-u.periods.entered:
		return c
	case <-time.After(3 * time.Second):
		u.t.Fatal("CreatePeriod was not called")
	}
	return createCall{}
}

func oneRecord(t *testing.T, a *fakeAuditor) AuditRecord {
	t.Helper()
	recs := a.all()
	if len(recs) != 1 {
		t.Fatalf("audit records = %+v, want exactly one", recs)
	}
	return recs[0]
}

func callList(calls []createCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Rule + ":" + c.Month.String()
	}
	return out
}

func toastEN(a Answer) string { return a.Toast.Text.EN }

// Errors as the Open Platform client reports them.
var (
	errTransient = &okr.Error{API: "create_period", HTTPStatus: 500, Code: 1001001, Msg: "internal error", LogID: "log_5xx", Class: okr.ClassTransient}
	errConflict  = &okr.Error{API: "create_period", HTTPStatus: 400, Code: 1001008, Msg: "conflict period existed", LogID: "log_409", Class: okr.ClassConflict}
	errTimeout   = &okr.Error{API: "create_period", Class: okr.ClassTransient, Err: okr.ErrTimeout}
	errRate      = &okr.Error{API: "create_period", HTTPStatus: 429, Code: 99991400, LogID: "log_429", Class: okr.ClassRateLimited, RetryAfter: time.Millisecond}
)

// --- HandleMessage ---

func TestUnitMessageAddressing(t *testing.T) {
	cases := []struct {
		name  string
		chats []string
		edit  func(u *unit, m *Message)
		taken bool
	}{
		{name: "sender is an app", edit: func(_ *unit, m *Message) { m.SenderType = "app" }},
		{name: "chat not served", chats: []string{"oc_elsewhere"}},
		{name: "group without mention", edit: func(u *unit, m *Message) { *m = u.msg(1, "/help"); m.ChatType = "group" }},
		{name: "group mentioning someone else", edit: func(u *unit, m *Message) { m.Mentions[0].OpenID = unitOther }},
		{name: "group mentioning the bot", taken: true},
		{name: "served chat", chats: []string{unitChat}, taken: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t, func(s *Settings, _ *Deps) { s.Chats = tc.chats })
			m := u.groupMsg(1, "/help")
			if tc.edit != nil {
				tc.edit(u, &m)
			}
			if err := u.bot.HandleMessage(context.Background(), m); err != nil {
				t.Fatalf("HandleMessage = %v, want nil", err)
			}
			if !tc.taken {
				if n := u.store.claimCount(); n != 0 {
					t.Errorf("dropped message made %d Claim calls, want none", n)
				}
				if n := u.bot.Pending(); n != 0 {
					t.Errorf("Pending() = %d for a dropped message", n)
				}
			}
			u.drain()
			want := 0
			if tc.taken {
				want = 1
			}
			if got := len(u.msgr.replies()); got != want {
				t.Errorf("replies = %d, want %d", got, want)
			}
			if len(u.audit.all()) != 0 || u.periods.calls() != 0 {
				t.Errorf("a message without data changes reached the API (%d calls) or the audit (%v)", u.periods.calls(), u.audit.all())
			}
		})
	}
}

func TestUnitMessageIdentityUnknown(t *testing.T) {
	u := newUnit(t)
	u.id.err = &okr.Error{API: "bot_info", Class: okr.ClassTransient, Err: okr.ErrNetwork}
	err := u.bot.HandleMessage(context.Background(), u.groupMsg(1, "/help"))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("HandleMessage = %v, want ErrBusy", err)
	}
	if n := u.store.claimCount(); n != 0 {
		t.Errorf("Claim called %d times before the bot knew it was addressed", n)
	}
	// A private message needs no identity.
	u.send(u.msg(2, "/help"))
	u.drain()
	if got := u.msgr.replies(); len(got) != 1 || got[0].To != "om_2" {
		t.Errorf("replies = %+v, want one to om_2", got)
	}
}

func TestUnitMessageDuplicates(t *testing.T) {
	u := newUnit(t)
	first := u.msg(1, "/help")
	sameEvent := first
	sameEvent.MessageID = "om_other"
	sameMessage := first
	sameMessage.EventID = "ev_other"
	for _, m := range []Message{first, sameEvent, sameMessage, first} {
		u.send(m)
	}
	u.drain()
	got := u.msgr.replies()
	if len(got) != 1 || got[0].To != first.MessageID {
		t.Fatalf("replies = %+v, want one to %s", got, first.MessageID)
	}
	if got[0].UUID != replyUUID(first.MessageID) || len(got[0].UUID) > 50 {
		t.Errorf("reply uuid = %q, want the message's derived uuid", got[0].UUID)
	}
}

func TestUnitMessageStoreDown(t *testing.T) {
	u := newUnit(t)
	u.store.setErr(errors.New("redis: connection refused"))
	m := u.msg(1, "/help")
	if err := u.bot.HandleMessage(context.Background(), m); !errors.Is(err, ErrBusy) {
		t.Fatalf("HandleMessage = %v, want ErrBusy", err)
	}
	if n := u.bot.Pending(); n != 0 {
		t.Fatalf("Pending() = %d: the refused message kept its slot", n)
	}
	// It left no trace: redelivered once the store is back, it is taken.
	u.store.setErr(nil)
	u.ask(m)
	u.drain()
	if n := len(u.msgr.replies()); n != 1 {
		t.Errorf("replies = %d, want 1", n)
	}
}

func TestUnitMessageChatQueueCap(t *testing.T) {
	u := newUnit(t, func(s *Settings, _ *Deps) { s.ChatQueue = 2 })
	u.periods.holdCreates()
	a := []Message{u.msg(1, "/newperiod 2023-01"), u.msg(2, "/help"), u.msg(3, "/rules"), u.msg(4, "/help")}
	u.send(a[0])
	u.waitEntered() // running: no longer counted against the chat
	u.send(a[1])
	u.send(a[2])
	if err := u.bot.HandleMessage(context.Background(), a[3]); !errors.Is(err, ErrBusy) {
		t.Fatalf("4th message of the chat: HandleMessage = %v, want ErrBusy", err)
	}
	if u.store.has("message:" + a[3].MessageID) {
		t.Error("the refused message was claimed: its redelivery would be dropped")
	}
	b := u.msg(5, "/help")
	b.ChatID = unitChatB
	card := u.ask(b) // answered while chat A still waits
	if card.Title != "OKR bot commands" {
		t.Errorf("chat B's answer = %q", card.Title)
	}
	if n := len(u.msgr.repliesTo(a[1].MessageID)); n != 0 {
		t.Error("chat A's 2nd message ran before its 1st finished")
	}
	u.periods.release()
	u.drain()
	for _, m := range a[:3] {
		if n := len(u.msgr.repliesTo(m.MessageID)); n != 1 {
			t.Errorf("%s got %d replies, want 1", m.MessageID, n)
		}
	}
	if n := len(u.msgr.repliesTo(a[3].MessageID)); n != 0 {
		t.Errorf("the message not taken got %d replies", n)
	}
}

func TestUnitMessageLate(t *testing.T) {
	u := newUnit(t)
	m := u.msg(1, "/newperiod 2023-04")
	m.CreateTime = unitNow.Add(-11 * time.Minute)
	card := u.ask(m)
	if card.Title != "Command arrived late and was not run" || !card.has("/newperiod 2023-04") || !card.has("11 minutes") {
		t.Errorf("late card = %q %q", card.Title, card.Texts)
	}
	u.drain()
	if n := u.periods.calls(); n != 0 {
		t.Errorf("a late command made %d API calls", n)
	}
	if recs := u.audit.all(); len(recs) != 0 {
		t.Errorf("a late command was audited: %+v", recs)
	}
}

func TestUnitMessageRefusedForNonOperator(t *testing.T) {
	u := newUnit(t)
	m := u.msg(1, "/newperiod 2023-04")
	m.SenderOpenID = unitOther
	card := u.ask(m)
	if card.Title != "You can't run this command" || !card.has(unitOther) {
		t.Errorf("refusal card = %q %q", card.Title, card.Texts)
	}
	u.drain()
	r := oneRecord(t, u.audit)
	want := AuditRecord{Time: unitNow, Operator: unitOther, ChatID: unitChat, Command: "newperiod", Args: []string{"2023-04"},
		Via: "message", Outcome: AuditRefused, EventID: m.EventID}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("audit = %+v\nwant    %+v", r, want)
	}
	if n := u.periods.calls(); n != 0 {
		t.Errorf("a refused command made %d API calls", n)
	}
}

func TestUnitMessageHelpListsEveryCommand(t *testing.T) {
	u := newUnit(t)
	for _, text := range []string{"/help", "/帮助", "hello"} {
		card := u.ask(u.msg(len(u.msgr.replies())+1, text))
		if card.Title != "OKR bot commands" {
			t.Fatalf("%q: card = %q", text, card.Title)
		}
		for _, spec := range newCommandTable() {
			if !card.has(spec.usage.Usage) || !card.has(spec.usage.Title.EN) {
				t.Errorf("%q: help lacks %s (%q)", text, spec.name, spec.usage.Usage)
			}
			for _, alias := range spec.aliases {
				if !card.has(alias) {
					t.Errorf("%q: help lacks the alias %s", text, alias)
				}
			}
		}
		if !card.has("A default period rule is configured") {
			t.Errorf("%q: help does not say a default rule is set", text)
		}
	}
}

func TestUnitMessageUnknownCommandSuggests(t *testing.T) {
	u := newUnit(t)
	card := u.ask(u.msg(1, "/peroids"))
	if card.Title != "Unknown command" || !card.has("Did you mean `/periods`?") || !card.has("/peroids") {
		t.Errorf("card = %q %q", card.Title, card.Texts)
	}
	card = u.ask(u.msg(2, "/zzzzzzzz"))
	if card.Title != "Unknown command" || card.has("Did you mean") {
		t.Errorf("far from any command: card = %q %q", card.Title, card.Texts)
	}
	if n := u.periods.calls(); n != 0 {
		t.Errorf("%d API calls", n)
	}
}

func TestUnitMessageUnknownRuleOffersPicker(t *testing.T) {
	u := newUnit(t)
	card := u.ask(u.msg(1, "/newperiod 2022-01 999"))
	if card.Title != "Choose a period rule for 2022-01" || !card.has("Period rule 999 is not one of this tenant's rules") {
		t.Fatalf("card = %q %q", card.Title, card.Texts)
	}
	if ops := card.ops(); !slices.Equal(ops, []string{opPick, opPick}) {
		t.Fatalf("buttons = %v, want one pick per rule", ops)
	}
	if n := len(u.periods.createCalls()); n != 0 {
		t.Fatalf("CreatePeriod called %d times for an unknown rule", n)
	}
	// Picking a rule creates the period with it.
	var pick map[string]any
	for _, b := range card.Buttons {
		if b["r"] == monthly.ID {
			pick = b
		}
	}
	a := u.click(pick, unitOperator, unitChat)
	if a.Card == nil || viewCard(t, *a.Card).Title != "OKR period created" {
		t.Fatalf("pick answer = %+v", a)
	}
	if got := callList(u.periods.createCalls()); !slices.Equal(got, []string{"7002:2022-01"}) {
		t.Errorf("creates = %v", got)
	}
}

// --- one period ---

func TestUnitCreateSucceeds(t *testing.T) {
	for _, withMetrics := range []bool{false, true} {
		t.Run(fmt.Sprintf("metrics=%v", withMetrics), func(t *testing.T) {
			u := newUnit(t, func(_ *Settings, d *Deps) {
				if withMetrics {
					d.Metrics = NewMetrics()
				}
			})
			m := u.msg(1, "/newperiod 2023-04")
			card := u.ask(m)
			u.drain()
			calls := u.periods.createCalls()
			if got := callList(calls); !slices.Equal(got, []string{"7001:2023-04"}) {
				t.Fatalf("creates = %v", got)
			}
			r := oneRecord(t, u.audit)
			id := r.PeriodID
			if card.Title != "OKR period created" || !card.has(id) || !card.has("2023-06") || !card.has("Quarterly from January") {
				t.Errorf("card = %q %q", card.Title, card.Texts)
			}
			want := AuditRecord{Time: unitNow, Operator: unitOperator, ChatID: unitChat, Command: "newperiod",
				Args: []string{"2023-04", "7001"}, Via: "message", Outcome: AuditCreated, PeriodID: id, LogID: "log_" + id, EventID: m.EventID}
			if id == "" || fmt.Sprint(r) != fmt.Sprint(want) {
				t.Errorf("audit = %+v\nwant    %+v", r, want)
			}
			if withMetrics {
				var got dto.Metric
				if err := u.metrics.created.Write(&got); err != nil || got.GetCounter().GetValue() != 1 {
					t.Errorf("periods created counter = %v (%v), want 1", got.GetCounter().GetValue(), err)
				}
			}
		})
	}
}

func TestUnitCreateFails(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		outcome string
		ops     []string
	}{
		{"transient", errTransient, AuditFailed, []string{opRetry}},
		{"conflict", errConflict, AuditExists, []string{opPeriods}},
		{"permanent", &okr.Error{API: "create_period", HTTPStatus: 400, Code: 1001009, LogID: "log_p", Class: okr.ClassPermanent}, AuditFailed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t)
			u.periods.failCreates(tc.err)
			m := u.msg(1, "/newperiod 2023-04")
			card := u.ask(m)
			u.drain()
			if card.Title != "Create period 2023-04 failed" {
				t.Errorf("card title = %q", card.Title)
			}
			if ops := card.ops(); !slices.Equal(ops, tc.ops) {
				t.Errorf("buttons = %v, want %v", ops, tc.ops)
			}
			if b := card.button(opRetry); b != nil {
				want := map[string]string{"m": "2023-04", "r": "7001", "n": "1", "c": unitChat, "src": m.MessageID, "t": "1"}
				for k, v := range want {
					if b[k] != v {
						t.Errorf("retry value %s = %v, want %s", k, b[k], v)
					}
				}
			}
			r := oneRecord(t, u.audit)
			e := tc.err.(*okr.Error)
			if r.Outcome != tc.outcome || r.Code != e.Code || r.LogID != e.LogID || r.PeriodID != "" ||
				!slices.Equal(r.Args, []string{"2023-04", "7001"}) {
				t.Errorf("audit = %+v, want outcome %s code %d", r, tc.outcome, e.Code)
			}
		})
	}
}

// A create that timed out may have run; its Retry meeting a conflict
// looks the period up, in the tenant's zone, and calls it created only
// when exactly the rule's months match.
func TestUnitCreateRetryAfterTimeout(t *testing.T) {
	sh := shanghai(t)
	cases := []struct {
		name     string
		loc      *time.Location
		period   okr.Period
		found    bool
		wantCard string
	}{
		{"the rule's months in the tenant's zone", sh,
			periodOf(unitPeriodID, okr.Month{Year: 2023, Month: 4}, okr.Month{Year: 2023, Month: 6}, okr.StatusNormal, sh),
			true, "OKR period created"},
		{"other months", sh,
			periodOf(unitPeriodID, okr.Month{Year: 2023, Month: 4}, okr.Month{Year: 2023, Month: 4}, okr.StatusNormal, sh),
			false, "Create period 2023-04 failed"},
		{"the months read in another zone", time.UTC,
			periodOf(unitPeriodID, okr.Month{Year: 2023, Month: 4}, okr.Month{Year: 2023, Month: 6}, okr.StatusNormal, sh),
			false, "Create period 2023-04 failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.period.Start; tc.loc == sh && !got.Equal(time.Date(2023, 4, 1, 0, 0, 0, 0, sh)) {
				t.Fatalf("period starts %v", got)
			}
			u := newUnit(t, func(s *Settings, _ *Deps) { s.Location = tc.loc })
			u.periods.failCreates(errTimeout, errConflict)
			card := u.ask(u.msg(1, "/newperiod 2023-04"))
			retry := card.button(opRetry)
			if retry == nil || retry["t"] != "1" {
				t.Fatalf("timeout card: buttons %v, want a Retry marked timed out", card.Buttons)
			}
			u.periods.setPeriods(tc.period)
			a := u.click(retry, unitOperator, unitChat)
			if a.Card == nil {
				t.Fatalf("answer has no card: %+v", a)
			}
			got := viewCard(t, *a.Card)
			if got.Title != tc.wantCard {
				t.Fatalf("card = %q %q", got.Title, got.Texts)
			}
			noted := got.has("The earlier attempt timed out")
			if noted != tc.found {
				t.Errorf("timeout note shown = %v, want %v", noted, tc.found)
			}
			if !tc.found && got.button(opPeriods) == nil {
				t.Errorf("conflict card without Show periods: %v", got.ops())
			}
			if n := len(u.periods.createCalls()); n != 2 {
				t.Errorf("CreatePeriod called %d times, want 2", n)
			}
			u.drain()
			recs := u.audit.all()
			if len(recs) != 2 || recs[0].Outcome != AuditFailed || recs[1].Outcome != AuditExists || recs[1].Via != "button" {
				t.Fatalf("audit = %+v, want failed then exists (button)", recs)
			}
			wantID := ""
			if tc.found {
				wantID = unitPeriodID
			}
			if recs[1].PeriodID != wantID {
				t.Errorf("exists record period = %q, want %q", recs[1].PeriodID, wantID)
			}
		})
	}
}

// --- spans ---

func TestUnitSpanCreatesEachPeriodInOrder(t *testing.T) {
	u := newUnit(t)
	card := u.ask(u.msg(1, "/newperiod 2023"))
	u.drain()
	want := []string{"7001:2023-01", "7001:2023-04", "7001:2023-07", "7001:2023-10"}
	if got := callList(u.periods.createCalls()); !slices.Equal(got, want) {
		t.Fatalf("creates = %v, want %v", got, want)
	}
	if card.Title != "4 OKR periods created" || len(card.Buttons) != 0 {
		t.Errorf("card = %q, buttons %v", card.Title, card.ops())
	}
	recs := u.audit.withOutcome(AuditCreated)
	if len(recs) != 4 || len(u.audit.all()) != 4 {
		t.Fatalf("audit = %+v, want 4 created", u.audit.all())
	}
	for i, r := range recs {
		if r.Args[0] != want[i][5:] || r.PeriodID == "" {
			t.Errorf("record %d = %+v", i, r)
		}
	}
}

// A 429 is waited out (at least a second, as the code does) and is not a
// failure.
func TestUnitSpanWaitsOutRateLimit(t *testing.T) {
	t.Parallel()
	u := newUnit(t)
	u.periods.failCreates(errRate)
	card := u.ask(u.msg(1, "/newperiod 2023"))
	u.drain()
	want := []string{"7001:2023-01", "7001:2023-01", "7001:2023-04", "7001:2023-07", "7001:2023-10"}
	if got := callList(u.periods.createCalls()); !slices.Equal(got, want) {
		t.Fatalf("creates = %v, want %v", got, want)
	}
	if card.Title != "4 OKR periods created" || card.button(opSpan) != nil {
		t.Errorf("card = %q, buttons %v", card.Title, card.ops())
	}
	if recs := u.audit.all(); len(recs) != 4 || len(u.audit.withOutcome(AuditCreated)) != 4 {
		t.Errorf("audit = %+v, want 4 created and no failure", recs)
	}
}

func TestUnitSpanRetriesOnlyTheFailed(t *testing.T) {
	u := newUnit(t)
	u.periods.failCreates(nil, errTransient)
	card := u.ask(u.msg(1, "/newperiod 2023"))
	if card.Title != "Some OKR periods could not be created" {
		t.Fatalf("card = %q %q", card.Title, card.Texts)
	}
	retry := card.button(opSpan)
	if retry == nil || retry["f"] != "2" || retry["k"] != "d" || retry["n"] != "1" {
		t.Fatalf("retry value = %v, want failed mask 2 (2023-04), created mask d", retry)
	}
	if got := u.audit.withOutcome(AuditFailed); len(got) != 1 || got[0].Args[0] != "2023-04" || got[0].Code != errTransient.Code {
		t.Fatalf("failed records = %+v", got)
	}
	if n := len(u.audit.withOutcome(AuditCreated)); n != 3 {
		t.Fatalf("created records = %d, want 3", n)
	}
	before := len(u.periods.createCalls())

	a := u.click(retry, unitOperator, unitChat)
	if a.Card == nil || a.Toast.Kind != "success" {
		t.Fatalf("retry answer = %+v", a)
	}
	if got := viewCard(t, *a.Card); got.Title != "4 OKR periods created" || !got.has("已重试上次失败的 1 个周期") {
		t.Errorf("retry card = %q %q", got.Title, got.Texts)
	}
	if got := callList(u.periods.createCalls()[before:]); !slices.Equal(got, []string{"7001:2023-04"}) {
		t.Errorf("retry created %v, want only 2023-04", got)
	}

	again := u.click(retry, unitOperator, unitChat)
	if again.Card != nil || !strings.Contains(toastEN(again), "already being handled") {
		t.Errorf("second click = %+v, want the already-handled toast", again)
	}
	if n := len(u.periods.createCalls()); n != before+1 {
		t.Errorf("CreatePeriod called %d times in all, want %d", n, before+1)
	}
	u.drain()
	if n := len(u.audit.withOutcome(AuditCreated)); n != 4 {
		t.Errorf("created records = %d, want 4", n)
	}
}

// --- status changes ---

func april(s okr.Status, loc *time.Location) okr.Period {
	return periodOf(unitPeriodID, okr.Month{Year: 2023, Month: 4}, okr.Month{Year: 2023, Month: 6}, s, loc)
}

func TestUnitStatusConfirmOnce(t *testing.T) {
	u := newUnit(t)
	p := april(okr.StatusNormal, shanghai(t))
	if want := time.Date(2023, 4, 1, 0, 0, 0, 0, shanghai(t)); !p.Start.Equal(want) {
		t.Fatalf("start = %v, want %v", p.Start, want)
	}
	u.periods.setPeriods(p)
	card := u.ask(u.msg(1, "/closeperiod 2023-04"))
	if !strings.HasPrefix(card.Title, "Confirm status change") || !card.has(unitPeriodID) {
		t.Fatalf("card = %q %q", card.Title, card.Texts)
	}
	if ops := card.ops(); !slices.Equal(ops, []string{opConfirm, opCancel}) {
		t.Fatalf("buttons = %v", ops)
	}
	if n := len(u.periods.patchCalls()); n != 0 {
		t.Fatalf("PATCH before confirmation: %d", n)
	}

	a := u.click(card.button(opConfirm), unitOperator, unitChat)
	if a.Card == nil || a.Toast.Kind != "success" || viewCard(t, *a.Card).Title != "Period status changed: Invalid" {
		t.Fatalf("confirm answer = %+v", a)
	}
	if got := u.periods.patchCalls(); !slices.Equal(got, []patchCall{{unitPeriodID, okr.StatusInvalid}}) {
		t.Fatalf("patches = %+v", got)
	}
	r := oneRecord(t, u.audit)
	if r.Outcome != AuditChanged || r.OldStatus != "normal" || r.NewStatus != "invalid" || r.PeriodID != unitPeriodID ||
		r.Command != "closeperiod" || r.Via != "button" || r.Operator != unitOperator || r.ChatID != unitChat {
		t.Errorf("audit = %+v", r)
	}

	again := u.click(card.button(opConfirm), unitOperator, unitChat)
	cancel := u.click(card.button(opCancel), unitOperator, unitChat)
	for _, a := range []Answer{again, cancel} {
		if a.Card != nil || !strings.Contains(toastEN(a), "already being handled") {
			t.Errorf("after the change: answer = %+v, want the already-handled toast", a)
		}
	}
	if n := len(u.periods.patchCalls()); n != 1 {
		t.Errorf("PATCH sent %d times, want once", n)
	}
	u.drain()
	if n := len(u.audit.all()); n != 1 {
		t.Errorf("audit records = %d, want 1", n)
	}
}

func TestUnitStatusAskVariants(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		status  okr.Status
		title   string
		buttons []string
	}{
		{"unknown id", "/closeperiod 7300000000000000999", okr.StatusNormal, "No such period", nil},
		{"no period that month", "/closeperiod 2023-07", okr.StatusNormal, "No such period", nil},
		{"already invalid", "/closeperiod 2023-04", okr.StatusInvalid, "Period status already as asked", nil},
		{"by id", "/hideperiod " + unitPeriodID, okr.StatusNormal, "Confirm status change", []string{opConfirm, opCancel}},
		{"restore a default-status period", "/restoreperiod 2023-04", okr.StatusDefault, "Period status already as asked", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnit(t)
			u.periods.setPeriods(april(tc.status, u.set.Location))
			card := u.ask(u.msg(1, tc.text))
			u.drain()
			if !strings.HasPrefix(card.Title, tc.title) || !slices.Equal(card.ops(), tc.buttons) {
				t.Errorf("card = %q buttons %v, want %q %v", card.Title, card.ops(), tc.title, tc.buttons)
			}
			if n := len(u.periods.patchCalls()); n != 0 {
				t.Errorf("PATCH sent %d times", n)
			}
			if recs := u.audit.all(); len(recs) != 0 {
				t.Errorf("asking was audited: %+v", recs)
			}
		})
	}
}

// The period changed after the card was shown: Confirm reads it again and
// sends nothing.
func TestUnitStatusConfirmAlreadyThere(t *testing.T) {
	u := newUnit(t)
	u.periods.setPeriods(april(okr.StatusNormal, u.set.Location))
	card := u.ask(u.msg(1, "/closeperiod 2023-04"))
	u.periods.setPeriods(april(okr.StatusInvalid, u.set.Location))
	a := u.click(card.button(opConfirm), unitOperator, unitChat)
	if a.Card == nil || viewCard(t, *a.Card).Title != "Period status already as asked" {
		t.Fatalf("answer = %+v", a)
	}
	if n := len(u.periods.patchCalls()); n != 0 {
		t.Errorf("PATCH sent %d times", n)
	}
	if r := oneRecord(t, u.audit); r.Outcome != AuditUnchanged || r.OldStatus != "invalid" || r.NewStatus != "invalid" {
		t.Errorf("audit = %+v", r)
	}
}

func TestUnitStatusConfirmRefusedForNonOperator(t *testing.T) {
	u := newUnit(t)
	u.periods.setPeriods(april(okr.StatusNormal, u.set.Location))
	card := u.ask(u.msg(1, "/closeperiod 2023-04"))
	a := u.click(card.button(opConfirm), unitOther, unitChat)
	if a.Card != nil || a.Toast.Kind != "error" || !strings.Contains(toastEN(a), "Only OKR operators") || !strings.Contains(toastEN(a), unitOther) {
		t.Fatalf("answer = %+v", a)
	}
	if n := len(u.periods.patchCalls()); n != 0 {
		t.Fatalf("PATCH sent %d times for a non-operator", n)
	}
	r := oneRecord(t, u.audit)
	if r.Outcome != AuditRefused || r.Operator != unitOther || r.Command != "closeperiod" || r.Via != "button" ||
		!slices.Equal(r.Args, []string{unitPeriodID}) {
		t.Errorf("audit = %+v", r)
	}
	// The refusal took no lock: the operator may still confirm.
	if a := u.click(card.button(opConfirm), unitOperator, unitChat); a.Card == nil || a.Toast.Kind != "success" {
		t.Errorf("operator's confirm after a refusal = %+v", a)
	}
	if n := len(u.periods.patchCalls()); n != 1 {
		t.Errorf("PATCH sent %d times, want 1", n)
	}
}

func TestUnitClickReplayedInAnotherChat(t *testing.T) {
	u := newUnit(t)
	u.periods.setPeriods(april(okr.StatusNormal, u.set.Location))
	card := u.ask(u.msg(1, "/closeperiod 2023-04"))
	for _, op := range []string{opConfirm, opCancel} {
		a := u.click(card.button(op), unitOperator, unitChatB)
		if a.Card != nil || a.Toast.Kind != "error" || !strings.Contains(toastEN(a), "not accepted") {
			t.Errorf("%s replayed in another chat: answer = %+v", op, a)
		}
	}
	if n := len(u.periods.patchCalls()); n != 0 {
		t.Fatalf("PATCH sent %d times", n)
	}
	recs := u.audit.withOutcome(AuditRejected)
	if len(recs) != 2 || len(u.audit.all()) != 2 || recs[0].ChatID != unitChatB || recs[0].Via != "button" {
		t.Errorf("audit = %+v, want two rejected", u.audit.all())
	}
	// Nor did the rejection take the lock in the chat it was made for.
	if a := u.click(card.button(opConfirm), unitOperator, unitChat); a.Toast.Kind != "success" {
		t.Errorf("confirm in its own chat = %+v", a)
	}
}

// --- shutdown ---

func TestUnitShutdownAnswersEveryMessage(t *testing.T) {
	u := newUnit(t)
	u.periods.holdCreates() // CreatePeriod returns only when its ctx ends
	var msgs []Message
	for i, month := range []string{"2023-01", "2023-04", "2023-07", "2023-10", "2024-01"} {
		m := u.msg(i+1, "/newperiod "+month)
		m.CreateTime = unitNow.Add(time.Duration(i-10) * time.Second)
		msgs = append(msgs, m)
		u.send(m)
	}
	if c := u.waitEntered(); c.Month.String() != "2023-01" {
		t.Fatalf("first create = %v, want 2023-01", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := u.bot.Shutdown(ctx); !errors.Is(err, ErrNotFinished) {
		t.Fatalf("Shutdown = %v, want ErrNotFinished", err)
	}
	if n := u.bot.Pending(); n != 0 {
		t.Errorf("Pending() = %d after Shutdown", n)
	}
	for i, m := range msgs {
		got := u.msgr.repliesTo(m.MessageID)
		if len(got) != 1 {
			t.Errorf("%s got %d replies, want exactly 1", m.MessageID, len(got))
			continue
		}
		card := viewCard(t, got[0].Card)
		if notRun := card.Title == "Command not run"; notRun != (i > 0) {
			t.Errorf("%s answered %q", m.MessageID, card.Title)
		}
		if i > 0 && !card.has(m.Text) {
			t.Errorf("not-run card of %s does not name the command: %q", m.MessageID, card.Texts)
		}
	}
	if got := callList(u.periods.createCalls()); !slices.Equal(got, []string{"7001:2023-01"}) {
		t.Errorf("creates = %v, want only the first", got)
	}
	r := oneRecord(t, u.audit)
	if r.Outcome != AuditUnknown || !slices.Equal(r.Args, []string{"2023-01", "7001"}) {
		t.Errorf("audit = %+v, want the cut-short create as unknown", r)
	}
	if err := u.bot.HandleMessage(context.Background(), u.msg(9, "/help")); !errors.Is(err, ErrClosed) {
		t.Errorf("HandleMessage after Shutdown = %v, want ErrClosed", err)
	}
}
