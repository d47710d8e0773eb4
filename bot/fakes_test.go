package bot

// Small in-memory fakes of the interfaces package bot declares (Periods,
// Messenger, Identity, Store, Auditor) and a fixed clock, for the unit
// tests in usecase_test.go. They record every call and fail on demand;
// none of them reaches a network or the Feishu emulator.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// --- Periods ---

// createCall is one CreatePeriod call as the fake saw it.
type createCall struct {
	Rule  string
	Month okr.Month
}

// patchCall is one PatchPeriod call.
type patchCall struct {
	Period string
	Status okr.Status
}

// fakePeriods is an in-memory OKR period API. Errors are programmed per
// call: createErrs and patchErrs are used up one per call (a nil entry, or
// an empty list, means success). With hold set, CreatePeriod announces
// itself on entered and waits until hold is closed or its ctx ends.
type fakePeriods struct {
	mu         sync.Mutex
	loc        *time.Location // zone of the periods it makes; UTC when nil
	rules      []okr.Rule
	periods    []okr.Period
	rulesErr   error
	listErr    error
	createErrs []error
	patchErrs  []error

	creates   []createCall
	patches   []patchCall
	ruleCalls int
	listCalls int
	nextID    int

	hold        chan struct{}
	releaseOnce sync.Once
	entered     chan createCall
}

func newFakePeriods(loc *time.Location, rules ...okr.Rule) *fakePeriods {
	return &fakePeriods{loc: loc, rules: rules, nextID: 7300000000000000100, entered: make(chan createCall, 64)}
}

// holdCreates makes every CreatePeriod wait until release or its ctx ends.
func (f *fakePeriods) holdCreates() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold = make(chan struct{})
}

// release lets held CreatePeriod calls go on; it may be called any number
// of times.
func (f *fakePeriods) release() {
	f.mu.Lock()
	h := f.hold
	f.mu.Unlock()
	if h != nil {
		f.releaseOnce.Do(func() { close(h) })
	}
}

func (f *fakePeriods) CreatePeriod(ctx context.Context, ruleID string, month okr.Month) (okr.Created, error) {
	f.mu.Lock()
	call := createCall{Rule: ruleID, Month: month}
	f.creates = append(f.creates, call)
	hold := f.hold
	f.mu.Unlock()
	select {
	case f.entered <- call:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return okr.Created{}, &okr.Error{API: "create_period", Class: okr.ClassTransient, Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.createErrs) > 0 {
		err := f.createErrs[0]
		f.createErrs = f.createErrs[1:]
		if err != nil {
			return okr.Created{}, err
		}
	}
	length := 1
	for _, r := range f.rules {
		if r.ID == ruleID && r.Length > 0 {
			length = r.Length
		}
	}
	f.nextID++
	id := fmt.Sprint(f.nextID)
	end := month.AddMonths(length - 1)
	f.periods = append(f.periods, periodOf(id, month, end, okr.StatusDefault, f.loc))
	return okr.Created{PeriodID: id, StartMonth: month.String(), EndMonth: end.String(), LogID: "log_" + id}, nil
}

func (f *fakePeriods) ListRules(context.Context) ([]okr.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ruleCalls++
	if f.rulesErr != nil {
		return nil, f.rulesErr
	}
	return slices.Clone(f.rules), nil
}

func (f *fakePeriods) ListPeriods(_ context.Context, limit int) ([]okr.Period, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	if f.listErr != nil {
		return nil, false, f.listErr
	}
	out := slices.Clone(f.periods)
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (f *fakePeriods) PatchPeriod(_ context.Context, periodID string, status okr.Status) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.patches = append(f.patches, patchCall{Period: periodID, Status: status})
	if len(f.patchErrs) > 0 {
		err := f.patchErrs[0]
		f.patchErrs = f.patchErrs[1:]
		if err != nil {
			return "", err
		}
	}
	for i := range f.periods {
		if f.periods[i].ID == periodID {
			f.periods[i].Status = status
			return "log-patch", nil
		}
	}
	return "", &okr.Error{API: "patch_period", Code: 1001004, Class: okr.ClassNotFound}
}

// setPeriods replaces the tenant's periods.
func (f *fakePeriods) setPeriods(ps ...okr.Period) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.periods = ps
}

// failCreates programs the outcomes of the next CreatePeriod calls.
func (f *fakePeriods) failCreates(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createErrs = append(f.createErrs, errs...)
}

func (f *fakePeriods) createCalls() []createCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.creates)
}

func (f *fakePeriods) patchCalls() []patchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.patches)
}

// calls counts every call of any method.
func (f *fakePeriods) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.creates) + len(f.patches) + f.ruleCalls + f.listCalls
}

// periodOf is a period from the first day of first to the last second of
// last, in loc (UTC when nil), the way the list API reports them.
func periodOf(id string, first, last okr.Month, s okr.Status, loc *time.Location) okr.Period {
	if loc == nil {
		loc = time.UTC
	}
	start := time.Date(first.Year, time.Month(first.Month), 1, 0, 0, 0, 0, loc)
	after := last.AddMonths(1)
	end := time.Date(after.Year, time.Month(after.Month), 1, 0, 0, 0, 0, loc).Add(-time.Second)
	return okr.Period{ID: id, ZhName: first.String() + " 周期", EnName: "Period " + first.String(), Status: s, Start: start, End: end}
}

// --- Messenger ---

// sentCard is one card the bot sent: a reply (To = the message replied
// to, UUID set), a patch (To = the message) or an update (To = the token).
type sentCard struct {
	Kind string // "reply", "patch" or "update"
	To   string
	UUID string
	Card cards.Card
}

// fakeMessenger records every card; replyErr makes Reply fail.
type fakeMessenger struct {
	mu       sync.Mutex
	sent     []sentCard
	replyErr error
	n        int
}

func (m *fakeMessenger) Reply(_ context.Context, messageID, uuid string, card cards.Card) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.replyErr != nil {
		return "", m.replyErr
	}
	m.sent = append(m.sent, sentCard{Kind: "reply", To: messageID, UUID: uuid, Card: card})
	m.n++
	return fmt.Sprintf("om_bot_%d", m.n), nil
}

func (m *fakeMessenger) PatchCard(_ context.Context, messageID string, card cards.Card) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentCard{Kind: "patch", To: messageID, Card: card})
	return nil
}

func (m *fakeMessenger) UpdateCard(_ context.Context, token string, card cards.Card) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentCard{Kind: "update", To: token, Card: card})
	return nil
}

// replies returns the replies sent so far.
func (m *fakeMessenger) replies() []sentCard {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sentCard
	for _, s := range m.sent {
		if s.Kind == "reply" {
			out = append(out, s)
		}
	}
	return out
}

// repliesTo returns the replies to one message.
func (m *fakeMessenger) repliesTo(messageID string) []sentCard {
	var out []sentCard
	for _, s := range m.replies() {
		if s.To == messageID {
			out = append(out, s)
		}
	}
	return out
}

// waitReplies polls, for at most a few seconds, until n replies were sent.
func (m *fakeMessenger) waitReplies(t *testing.T, n int) []sentCard {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := m.replies()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d replies, want %d", len(got), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// --- Identity ---

type fakeIdentity struct {
	mu    sync.Mutex
	id    string
	err   error
	calls int
}

func (f *fakeIdentity) BotOpenID(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.id, f.err
}

// --- Store ---

// fakeStore is a map with a mutex: claims take every key or none. err
// makes every call fail.
type fakeStore struct {
	mu       sync.Mutex
	keys     map[string]time.Duration
	err      error
	claims   int
	released []string
}

func newFakeStore() *fakeStore { return &fakeStore{keys: map[string]time.Duration{}} }

func (s *fakeStore) Claim(_ context.Context, ttl time.Duration, keys ...string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if s.err != nil {
		return false, s.err
	}
	for _, k := range keys {
		if _, taken := s.keys[k]; taken {
			return false, nil
		}
	}
	for _, k := range keys {
		s.keys[k] = ttl
	}
	return true, nil
}

func (s *fakeStore) Release(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, k := range keys {
		delete(s.keys, k)
		s.released = append(s.released, k)
	}
	return nil
}

func (s *fakeStore) claimCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

func (s *fakeStore) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok
}

func (s *fakeStore) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

// --- Auditor ---

type fakeAuditor struct {
	mu      sync.Mutex
	records []AuditRecord
}

func (a *fakeAuditor) Audit(_ context.Context, r AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, r)
	return nil
}

func (a *fakeAuditor) all() []AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.records)
}

// withOutcome returns the records of one outcome.
func (a *fakeAuditor) withOutcome(outcome string) []AuditRecord {
	var out []AuditRecord
	for _, r := range a.all() {
		if r.Outcome == outcome {
			out = append(out, r)
		}
	}
	return out
}

// --- clock ---

// --- reading cards ---

// cardView is what a test reads off a card: the header title (English),
// every text (both languages) and every button's value.
type cardView struct {
	Title   string
	Texts   []string
	Buttons []map[string]any
}

// viewCard decodes the card's JSON.
func viewCard(t *testing.T, c cards.Card) cardView {
	t.Helper()
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatalf("card does not encode: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("card JSON: %v", err)
	}
	var v cardView
	if h, ok := doc["header"].(map[string]any); ok {
		if title, ok := h["title"].(map[string]any); ok {
			v.Title, _ = title["content"].(string)
		}
	}
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if x["type"] == "callback" {
				if val, ok := x["value"].(map[string]any); ok {
					v.Buttons = append(v.Buttons, val)
				}
				return
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		case string:
			v.Texts = append(v.Texts, x)
		}
	}
	walk(doc)
	return v
}

// has reports whether any text of the card contains s.
func (v cardView) has(s string) bool {
	return slices.ContainsFunc(v.Texts, func(x string) bool { return strings.Contains(x, s) })
}

// button returns the value of the card's button of op, or nil.
func (v cardView) button(op string) map[string]any {
	for _, b := range v.Buttons {
		if b["op"] == op {
			return b
		}
	}
	return nil
}

// ops lists the operations of the card's buttons.
func (v cardView) ops() []string {
	var out []string
	for _, b := range v.Buttons {
		op, _ := b["op"].(string)
		out = append(out, op)
	}
	return out
}
