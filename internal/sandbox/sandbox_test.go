package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

// startSandbox runs the sandbox in-process on a free port until the test
// ends, and returns the page URL ("http://127.0.0.1:PORT/"). The test fails
// if Run does not return nil promptly once its context is cancelled.
func startSandbox(t *testing.T) string {
	t.Helper()
	return startSandboxMode(t, "")
}

// startSandboxMode is startSandbox with Options.Mode set to mode.
func startSandboxMode(t *testing.T, mode string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs, out := &testkit.Buffer{}, &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Listener: ln, Out: out, Mode: mode,
			Log:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Ready: func(url string) { ready <- url },
		})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before serving: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the sandbox did not start within 10 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return within 20 s of cancel")
		}
		if t.Failed() {
			t.Logf("sandbox logs:\n%s", logs)
		}
	})
	if want := "http://" + ln.Addr().String() + "/"; url != want {
		t.Errorf("Ready got %q, want %q", url, want)
	}
	if !strings.Contains(out.String(), "open "+url) {
		t.Errorf("Out does not tell the URL %s:\n%s", url, out)
	}
	return url
}

// client talks to the sandbox's JSON API as the page does.
type client struct {
	t    *testing.T
	base string // "http://127.0.0.1:PORT"
	v    uint64
}

func newClient(t *testing.T, url string) *client {
	return &client{t: t, base: strings.TrimSuffix(url, "/")}
}

func (c *client) post(path string, body any) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(c.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("POST %s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

func (c *client) mustPost(path string, body any, want int) map[string]any {
	c.t.Helper()
	status, out := c.post(path, body)
	if status != want {
		c.t.Fatalf("POST %s %v: status %d %v, want %d", path, body, status, out, want)
	}
	return out
}

// state gets the state; with wait it long-polls for a change after the
// last version seen.
func (c *client) state(wait bool) stateView {
	c.t.Helper()
	url := c.base + "/sandbox/api/state"
	if wait {
		url += fmt.Sprintf("?after=%d", c.v)
	}
	resp, err := http.Get(url)
	if err != nil {
		c.t.Fatalf("GET state: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("GET state: %d %s", resp.StatusCode, b)
	}
	var st stateView
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		c.t.Fatalf("GET state: %v", err)
	}
	c.v = st.Version
	return st
}

// waitFor long-polls the state until cond holds (10 s at most).
func (c *client) waitFor(what string, cond func(stateView) bool) stateView {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	st := c.state(false)
	for !cond(st) {
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st.Messages, "", "  ")
			c.t.Fatalf("timed out waiting for %s; messages:\n%s", what, b)
		}
		st = c.state(true)
	}
	return st
}

// reply waits for the bot's reply to messageID whose card title contains
// title, and returns it.
func (c *client) reply(messageID, title string) messageView {
	c.t.Helper()
	var found messageView
	c.waitFor(fmt.Sprintf("a %q reply to %s", title, messageID), func(st stateView) bool {
		for _, m := range st.Messages {
			if m.FromBot && m.ParentID == messageID && strings.Contains(cardTitle(m.Card), title) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func (c *client) send(as, chat, text string, mention bool) string {
	c.t.Helper()
	out := c.mustPost("/sandbox/api/send", sendRequest{Text: text, As: as, Chat: chat, Mention: mention}, http.StatusAccepted)
	id, _ := out["message_id"].(string)
	if !strings.HasPrefix(id, "om_") {
		c.t.Fatalf("send answered %v, want a message_id", out)
	}
	return id
}

// click presses the button of the card whose English label contains label.
func (c *client) click(m messageView, label, as string) map[string]any {
	c.t.Helper()
	for _, b := range feishuemu.Buttons(m.Card) {
		if strings.Contains(b.TextEn, label) && b.Value != nil {
			return c.mustPost("/sandbox/api/click", clickRequest{MessageID: m.ID, Value: b.Value, Name: b.Name, As: as}, http.StatusOK)
		}
	}
	c.t.Fatalf("card %q has no %q button", cardTitle(m.Card), label)
	return nil
}

func (c *client) message(id string) messageView {
	c.t.Helper()
	for _, m := range c.state(false).Messages {
		if m.ID == id {
			return m
		}
	}
	c.t.Fatalf("no message %s", id)
	return messageView{}
}

// cardTitle is the English title of a card.
func cardTitle(card map[string]any) string {
	h, _ := card["header"].(map[string]any)
	t, _ := h["title"].(map[string]any)
	s, _ := t["content"].(string)
	return s
}

func cardText(card map[string]any) string { return strings.Join(feishuemu.CardTexts(card), "\n") }

func toastText(out map[string]any) string {
	t, _ := out["toast"].(map[string]any)
	s, _ := t["content"].(string)
	return s
}

func TestSandboxAPI(t *testing.T) {
	url := startSandbox(t)
	c := newClient(t, url)

	st := c.state(false)
	if st.Tenant.Rules != 3 || st.Tenant.Periods != 4 {
		t.Errorf("seeded tenant: %d rules, %d periods; want 3 and 4", st.Tenant.Rules, st.Tenant.Periods)
	}
	if len(st.Messages) != 0 || len(st.People) != 2 || !st.People[0].Operator || st.People[1].Operator {
		t.Errorf("fresh state: %d messages, people %+v", len(st.Messages), st.People)
	}

	// A typed /newperiod without a rule: the rule picker; its quarterly
	// button creates the period through the real callback path.
	id := c.send(OperatorOpenID, "p2p", "/newperiod 2022-01", false)
	picker := c.reply(id, "Choose a period rule for 2022-01")
	if picker.ChatID != feishuemu.DefaultP2PChatID {
		t.Errorf("reply in chat %s, want the operator's p2p chat", picker.ChatID)
	}
	out := c.click(picker, "Quarterly from January", OperatorOpenID)
	if out["updated"] != true || toastText(out) != "Period created" {
		t.Errorf("click answered %v, want the card updated and a Period created toast", out)
	}
	created := c.message(picker.ID)
	if cardTitle(created.Card) != "OKR period created" || created.Updates != 1 {
		t.Fatalf("card after the click: %q (updates %d), want OKR period created in place", cardTitle(created.Card), created.Updates)
	}
	for _, want := range []string{"2022-01", "2022-03", "7290000000000000002", "Quarterly from January", "<at id=" + OperatorOpenID + "></at>"} {
		if !strings.Contains(cardText(created.Card), want) {
			t.Errorf("result card lacks %q:\n%s", want, cardText(created.Card))
		}
	}

	// The traffic panel shows the create and both pushes.
	st = c.state(false)
	var sawCreate, sawEvent, sawCallback bool
	for _, tr := range st.Traffic {
		switch {
		case tr.Kind == "api" && tr.API == feishuemu.APICreatePeriod && tr.Method == http.MethodPost &&
			tr.Path == "/open-apis/okr/v1/periods" && tr.Status == 200 && tr.Code != nil && *tr.Code == 0 && tr.LogID != "":
			sawCreate = true
		case tr.Kind == "event" && tr.Event == "im.message.receive_v1" && tr.Status == 200 && tr.Path == "/webhook/event":
			sawEvent = true
		case tr.Kind == "callback" && tr.Event == "card.action.trigger" && tr.Status == 200 && tr.Path == "/webhook/card":
			sawCallback = true
		}
	}
	if !sawCreate || !sawEvent || !sawCallback {
		t.Errorf("traffic: create %v, event %v, callback %v; want all:\n%+v", sawCreate, sawEvent, sawCallback, st.Traffic)
	}
	if st.Tenant.Periods != 5 {
		t.Errorf("tenant has %d periods, want 5", st.Tenant.Periods)
	}

	// A fault armed on the page makes the next create fail; Retry recovers.
	c.mustPost("/sandbox/api/fault", faultRequest{Action: "fail", Code: 1009999}, http.StatusOK)
	if armed := c.state(false).Faults.Armed; len(armed) != 1 || !strings.Contains(armed[0], "1009999") {
		t.Errorf("armed faults %v, want the 1009999 one", armed)
	}
	id = c.send(OperatorOpenID, "p2p", "/newperiod 2022-04 "+feishuemu.QuarterlyRuleID, false)
	failed := c.reply(id, "Create period 2022-04 failed")
	if !strings.Contains(cardText(failed.Card), "1009999") {
		t.Errorf("error card lacks the code:\n%s", cardText(failed.Card))
	}
	if armed := c.state(false).Faults.Armed; len(armed) != 0 {
		t.Errorf("armed faults after the create: %v, want none", armed)
	}
	out = c.click(failed, "Retry", OperatorOpenID)
	if toastText(out) != "Period created" || cardTitle(c.message(failed.ID).Card) != "OKR period created" {
		t.Errorf("retry answered %v; card %q", out, cardTitle(c.message(failed.ID).Card))
	}

	// The same month again: a conflict, whose Show periods button lists them.
	id = c.send(OperatorOpenID, "p2p", "/newperiod 2022-01 "+feishuemu.QuarterlyRuleID, false)
	conflict := c.reply(id, "Create period 2022-01 failed")
	if !strings.Contains(cardText(conflict.Card), "Conflict period existed") {
		t.Errorf("conflict card:\n%s", cardText(conflict.Card))
	}
	c.click(conflict, "Show periods", OperatorOpenID)
	// The list comes as a new message under the conflict, which stays.
	list := c.reply(conflict.ID, "OKR periods")
	if !strings.Contains(cardText(list.Card), "Jan - Mar 2022") {
		t.Errorf("after Show periods:\n%s", cardText(list.Card))
	}
	if !strings.Contains(cardText(c.message(conflict.ID).Card), "Conflict period existed") {
		t.Errorf("the conflict card changed after Show periods:\n%s", cardText(c.message(conflict.ID).Card))
	}

	// Someone who is not an operator is refused, in their own p2p chat.
	id = c.send(EmployeeOpenID, "p2p", "/newperiod 2022-07", false)
	refusal := c.reply(id, "You can't run this command")
	if refusal.ChatID == feishuemu.DefaultP2PChatID || !strings.Contains(cardText(refusal.Card), EmployeeOpenID) {
		t.Errorf("refusal in chat %s:\n%s", refusal.ChatID, cardText(refusal.Card))
	}

	// In the group the bot answers only when @-mentioned.
	quiet := c.send(OperatorOpenID, "group", "/help", false)
	id = c.send(OperatorOpenID, "group", "/help", true)
	c.reply(id, "OKR bot commands")
	st = c.waitFor("the unmentioned message to be delivered", func(st stateView) bool {
		for _, m := range st.Messages {
			if m.ID == quiet {
				return m.Delivery == "ok"
			}
		}
		return false
	})
	for _, m := range st.Messages {
		if m.ParentID == quiet {
			t.Errorf("the bot answered a group message that did not mention it: %q", cardTitle(m.Card))
		}
		if m.ID == id && (len(m.Mentions) != 1 || m.Mentions[0].OpenID != st.Bot.OpenID || !strings.HasPrefix(m.Text, "@OKR Bot ")) {
			t.Errorf("mentioning message: text %q mentions %+v", m.Text, m.Mentions)
		}
	}
}

func TestSandboxAPIRejects(t *testing.T) {
	url := startSandbox(t)
	c := newClient(t, url)
	base := strings.TrimSuffix(url, "/")

	resp, err := http.Post(base+"/sandbox/api/send", "text/plain", strings.NewReader(`{"text":"/help"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("send as text/plain: %d, want 415", resp.StatusCode)
	}
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/sandbox/api/send", sendRequest{Text: "/help", As: "ou_nobody"}},
		{"/sandbox/api/send", sendRequest{Text: "   ", As: OperatorOpenID}},
		{"/sandbox/api/send", sendRequest{Text: "/help", As: OperatorOpenID, Chat: "channel"}},
		{"/sandbox/api/send", sendRequest{Text: strings.Repeat("x", maxTextRunes+1), As: OperatorOpenID}},
		{"/sandbox/api/click", clickRequest{MessageID: "om_unknown", Value: map[string]any{"op": "x"}, As: OperatorOpenID}},
		{"/sandbox/api/click", clickRequest{MessageID: "om_unknown", As: OperatorOpenID}},
		{"/sandbox/api/fault", faultRequest{Action: "fail", Code: 42}},
		{"/sandbox/api/fault", faultRequest{Action: "explode"}},
	} {
		if status, out := c.post(tc.path, tc.body); status != http.StatusBadRequest || out["error"] == "" {
			t.Errorf("POST %s %+v: %d %v, want 400 with an error", tc.path, tc.body, status, out)
		}
	}
	if resp, err := http.Get(base + "/sandbox/api/state?after=x"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("state?after=x: %v %v, want 400", resp.StatusCode, err)
	}

	// The page and its assets come from the binary, under a strict CSP.
	for path, want := range map[string]string{"/": "okrbot sandbox", "/assets/app.js": "renderCard", "/assets/app.css": ".card-header"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	// The bot's own endpoints are on the same port.
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

// TestRunAddr covers listening on Options.Addr with port 0, and a long
// poll that is released by shutdown.
func TestRunAddr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	out := &testkit.Buffer{}
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", Out: out, Ready: func(u string) { ready <- u }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10 s")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0/") {
		t.Fatalf("url %q, want the real port", url)
	}
	c := newClient(t, url)
	st := c.state(false)
	polled := make(chan int, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%ssandbox/api/state?after=%d", url, st.Version+1000))
		if err != nil {
			polled <- 0
			return
		}
		resp.Body.Close()
		polled <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // let the long poll start waiting
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case <-polled:
	case <-time.After(5 * time.Second):
		t.Error("a long poll held up shutdown")
	}

	// The port is busy: Run says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Run(context.Background(), Options{Addr: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Run on a busy port: %v, want a listen error", err)
	}
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "http://127.0.0.1:9000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9000}, "http://127.0.0.1:9000"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9000}, "http://[::1]:9000"},
	} {
		if got := baseURL(tc.addr); got != tc.want {
			t.Errorf("baseURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// TestSandboxWebSocketMode: -mode websocket carries the same chat over the
// emulator's long connection; the traffic panel shows frames, not pushes.
func TestSandboxWebSocketMode(t *testing.T) {
	url := startSandboxMode(t, ModeWebSocket)
	c := newClient(t, url)
	if st := c.state(false); st.Mode != ModeWebSocket {
		t.Fatalf("state mode %q, want websocket", st.Mode)
	}
	id := c.send(OperatorOpenID, "p2p", "/newperiod 2022-01", false)
	picker := c.reply(id, "Choose a period rule for 2022-01")
	out := c.click(picker, "Quarterly from January", OperatorOpenID)
	if out["updated"] != true || toastText(out) != "Period created" {
		t.Fatalf("click answered %v, want the card updated and a Period created toast", out)
	}
	if created := c.message(picker.ID); cardTitle(created.Card) != "OKR period created" {
		t.Fatalf("card after the click: %q", cardTitle(created.Card))
	}
	st := c.waitFor("the message delivered", func(st stateView) bool {
		for _, m := range st.Messages {
			if m.ID == id {
				return m.Delivery == "ok"
			}
		}
		return false
	})
	var open, events, acks int
	for _, tr := range st.Traffic {
		switch {
		case tr.Kind == "event" || tr.Kind == "callback":
			t.Errorf("a webhook push in websocket mode: %+v", tr)
		case tr.Kind == "frame" && tr.Frame == "open":
			open++
		case tr.Kind == "frame" && tr.Frame == "event" && tr.Dir == "out" && tr.Size > 0:
			events++
		case tr.Kind == "frame" && tr.Frame == "ack" && tr.Dir == "in" && tr.Status == 200:
			acks++
		case tr.Kind == "frame" && (tr.Frame == "ping" || tr.Frame == "pong"):
			t.Errorf("pings in the traffic panel: %+v", tr)
		}
	}
	// The message and the click: two data frames, two ACKs.
	if open != 1 || events != 2 || acks != 2 {
		t.Errorf("traffic: %d opens, %d data frames, %d ACKs; want 1, 2, 2:\n%+v", open, events, acks, st.Traffic)
	}
	// The bot's HTTP surface: ready, and no webhook paths.
	base := strings.TrimSuffix(url, "/")
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Post(base+"/webhook/event", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /webhook/event in websocket mode: %d, want 404", resp.StatusCode)
	}
}

func TestRunRejectsUnknownMode(t *testing.T) {
	err := Run(context.Background(), Options{Addr: "127.0.0.1:0", Mode: "carrier-pigeon"})
	if err == nil || !strings.Contains(err.Error(), "carrier-pigeon") {
		t.Errorf("Run with an unknown mode: %v", err)
	}
}

// TestSandboxAnswersOnlyItsOwnHost: a request that names another host (a
// DNS name rebound to the loopback) is refused before it reaches the page,
// its API, the bot or the emulator.
func TestSandboxAnswersOnlyItsOwnHost(t *testing.T) {
	url := startSandbox(t)
	base := strings.TrimSuffix(url, "/")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	do := func(method, path, host string, body io.Reader) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.nip.io:" + port, "localhost.evil.example:" + port, "127.0.0.1:1" + port, "10.0.0.1:" + port} {
		for _, path := range []string{"/", "/sandbox/api/state", "/open-apis/bot/v3/info", "/readyz", "/webhook/event"} {
			if code := do(http.MethodGet, path, host, nil); code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %q: %d, want 421", path, host, code)
			}
		}
		if code := do(http.MethodPost, "/sandbox/api/send", host, strings.NewReader(`{"text":"/help","as":"`+OperatorOpenID+`"}`)); code != http.StatusMisdirectedRequest {
			t.Errorf("POST send with Host %q: %d, want 421", host, code)
		}
	}
	if n := len(newClient(t, url).state(false).Messages); n != 0 {
		t.Errorf("a refused send left %d messages", n)
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port} {
		if code := do(http.MethodGet, "/sandbox/api/state", host, nil); code != http.StatusOK {
			t.Errorf("GET state with Host %q: %d, want 200", host, code)
		}
	}
}

func TestHostGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		addr  net.Addr
		host  string
		allow bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "127.0.0.1:8080", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "localhost:8080", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "[::1]:8080", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "127.0.0.1:8081", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "192.168.1.5:8080", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "attacker.example:8080", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "127.0.0.1", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "attacker.example", false},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "192.168.1.5:9000", true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "localhost:9000", true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "myhost.lan:9000", false},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 9000}, "192.168.1.5:9000", true},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 9000}, "localhost:9000", false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9000}, "[::1]:9000", true},
	} {
		h := hostGuard(tc.addr, ok)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Code == http.StatusNoContent; got != tc.allow {
			t.Errorf("listen %v, Host %q: status %d, want allowed=%v", tc.addr, tc.host, rec.Code, tc.allow)
		}
		if !tc.allow && rec.Code != http.StatusMisdirectedRequest {
			t.Errorf("listen %v, Host %q: status %d, want 421", tc.addr, tc.host, rec.Code)
		}
	}
}
