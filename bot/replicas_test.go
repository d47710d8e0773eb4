package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"okrbot/internal/app"
	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/store"
	"okrbot/internal/testkit"
)

// Replicas: several bots (separate app.New, as separate processes would be)
// behind one Feishu (the emulator) and sharing one Redis. Feishu reaches
// them through a front that either spreads requests round-robin, pins them
// to one replica, or hands every request to all replicas at once.

type replica struct {
	app  *app.App
	srv  *httptest.Server
	logs *testkit.Buffer
}

func (r *replica) eventURL() string { return r.srv.URL + r.app.Config.Server.EventPath }

// Front modes.
const (
	roundRobin = -1 // each request to the next replica
	fanOut     = -2 // each request to every replica at once
	// 0, 1, ...: every request to that replica
)

type hit struct {
	replica int
	path    string
	status  int
}

type cluster struct {
	emu    *feishuemu.Emulator
	feishu *httptest.Server
	redis  *testkit.Redis
	reps   []*replica
	front  *httptest.Server
	mode   atomic.Int32
	next   atomic.Int32
	client *http.Client

	mu   sync.Mutex
	hits []hit
}

type clusterOpts struct {
	cfg   func(*config.Config)
	emu   func(*feishuemu.Options)
	start bool
}

// newCluster starts redis, the emulator and n replicas; everything stops
// when t ends (the replicas before Redis).
func newCluster(t *testing.T, n int, o clusterOpts) *cluster {
	t.Helper()
	c := &cluster{redis: testkit.StartRedis(t), client: &http.Client{Timeout: 30 * time.Second}}
	eo := testkit.EmulatorOptions()
	if o.emu != nil {
		o.emu(&eo)
	}
	c.emu = feishuemu.New(eo)
	c.feishu = httptest.NewServer(c.emu)
	t.Cleanup(func() {
		c.emu.Close()
		c.feishu.Close()
	})
	cfg := testkit.Config(c.feishu.URL)
	cfg.Store.Backend = config.BackendRedis
	cfg.Store.RedisURL = c.redis.URL()
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	for i := range n {
		logs := &testkit.Buffer{}
		a, err := app.New(cfg, app.Options{Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatalf("replica %d: app.New: %v", i, err)
		}
		r := &replica{app: a, srv: httptest.NewServer(a.Handler), logs: logs}
		c.reps = append(c.reps, r)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Shutdown(ctx); err != nil {
				t.Errorf("replica %d: shutdown: %v", i, err)
			}
			r.srv.Close()
			if t.Failed() {
				t.Logf("replica %d log:\n%s", i, logs.String())
			}
		})
	}
	c.mode.Store(roundRobin)
	c.front = httptest.NewServer(http.HandlerFunc(c.serveFront))
	t.Cleanup(func() {
		c.front.Close()
		c.client.CloseIdleConnections()
	})
	c.emu.SetBotEndpoints(c.front.URL+cfg.Server.EventPath, c.front.URL+cfg.Server.CardPath)
	if o.start {
		c.startAll()
	}
	return c
}

// startAll starts every replica's token refresh at the same moment.
func (c *cluster) startAll() {
	var wg sync.WaitGroup
	for _, r := range c.reps {
		wg.Add(1)
		go func() { defer wg.Done(); r.app.Start() }()
	}
	wg.Wait()
}

// serveFront forwards a request from Feishu to the replica(s) the mode
// picks, and answers what the (first) replica answered.
func (c *cluster) serveFront(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var targets []int
	switch m := int(c.mode.Load()); m {
	case roundRobin:
		targets = []int{int(c.next.Add(1)-1) % len(c.reps)}
	case fanOut:
		for i := range c.reps {
			targets = append(targets, i)
		}
	default:
		targets = []int{m}
	}
	type answer struct {
		status int
		header http.Header
		body   []byte
	}
	answers := make([]answer, len(targets))
	var wg sync.WaitGroup
	for k, i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := http.NewRequestWithContext(req.Context(), req.Method, c.reps[i].srv.URL+req.URL.RequestURI(), bytes.NewReader(body))
			if err != nil {
				answers[k] = answer{status: http.StatusBadGateway}
				return
			}
			out.Header = req.Header.Clone()
			resp, err := c.client.Do(out)
			if err != nil {
				answers[k] = answer{status: http.StatusBadGateway}
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answers[k] = answer{status: resp.StatusCode, header: resp.Header, body: b}
			}
			c.mu.Lock()
			c.hits = append(c.hits, hit{replica: i, path: req.URL.Path, status: answers[k].status})
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	a := answers[0]
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func (c *cluster) Hits() []hit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]hit(nil), c.hits...)
}

func (c *cluster) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pending := 0
		for _, r := range c.reps {
			pending += r.app.Bot.Pending()
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas still have %d events pending", pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// repliesTo waits for the replicas to finish and returns the bot's replies
// to messageID.
func (c *cluster) repliesTo(t *testing.T, messageID string) []feishuemu.Message {
	t.Helper()
	c.settle(t)
	var out []feishuemu.Message
	for _, m := range c.emu.Replies() {
		if m.ParentID == messageID {
			out = append(out, m)
		}
	}
	return out
}

func (c *cluster) replyTo(t *testing.T, messageID string) feishuemu.Message {
	t.Helper()
	got := c.repliesTo(t, messageID)
	if len(got) != 1 {
		t.Fatalf("%d replies to %s, want exactly 1", len(got), messageID)
	}
	return got[0]
}

func (c *cluster) say(t *testing.T, text string) feishuemu.Delivery {
	t.Helper()
	d, err := c.emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: text, SenderOpenID: testkit.Operator})
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if !d.OK() {
		t.Fatalf("delivery of %q: status %d err %q body %s", text, d.Status, d.Err, d.Body)
	}
	return d
}

func sender() feishuemu.Sender {
	return feishuemu.Sender{VerificationToken: testkit.VerificationToken, EncryptKey: testkit.EncryptKey, AppID: testkit.AppID}
}

func readyz(r *replica) (int, string) {
	resp, err := http.Get(r.srv.URL + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls f every 50 ms until it reports true, failing after
// within.
func eventually(t *testing.T, within time.Duration, what string, f func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, detail := f()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s (last: %s)", what, within, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withEventID returns the envelope with another header.event_id: Feishu's
// at-least-once delivery of one message under a second event.
func withEventID(t *testing.T, envelope []byte, id string) json.RawMessage {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	env["header"].(map[string]any)["event_id"] = id
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplicasActOnceOnOneMessage(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{start: true, cfg: func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly }})
	ctx := context.Background()

	// 1. Feishu's push of a new message reaches all three replicas at once,
	// then comes again every way it can: redelivered (same event id) and
	// re-sent (new event ids), again to all three at once, and the very
	// envelope posted straight to each replica.
	c.mode.Store(fanOut)
	d := c.say(t, "/newperiod 2022-01")
	body, ok := c.emu.EventBody(d.EventID)
	if !ok {
		t.Fatal("no event body")
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if r, err := c.emu.Redeliver(ctx, d.EventID); err != nil || r.Status != 200 {
				t.Errorf("redeliver: %v %d %s", err, r.Status, r.Body)
			}
		}()
		go func() {
			defer wg.Done()
			if r, err := c.emu.PostMessage(ctx, feishuemu.UserMessage{MessageID: d.MessageID}); err != nil || r.Status != 200 {
				t.Errorf("re-send: %v %d %s", err, r.Status, r.Body)
			}
		}()
	}
	for _, r := range c.reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := sender().Post(ctx, r.eventURL(), json.RawMessage(body)); err != nil || resp.Status != 200 {
				t.Errorf("repost: %v %d %s", err, resp.Status, resp.Body)
			}
		}()
	}
	wg.Wait()
	reply := c.replyTo(t, d.MessageID)
	testkit.MustSay(t, reply.Card, "OKR period created", "2022-01")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1 across 3 replicas", n)
	}
	served := map[int]int{}
	for _, h := range c.Hits() {
		if h.status != 200 {
			t.Errorf("replica %d answered %d to a duplicate; want 200 so Feishu stops", h.replica, h.status)
		}
		served[h.replica]++
	}
	if len(served) != 3 {
		t.Fatalf("deliveries reached replicas %v, want all 3", served)
	}

	// 2. A message pushed to replica 0 only; its envelope then posted to
	// replicas 1 and 2 at once, both as it is (same event id) and under new
	// event ids (same message_id).
	c.mode.Store(0)
	d2 := c.say(t, "/newperiod 2022-02")
	body2, _ := c.emu.EventBody(d2.EventID)
	start := make(chan struct{})
	for i, r := range c.reps[1:] {
		for _, b := range []json.RawMessage{body2, withEventID(t, body2, fmt.Sprintf("%032x", 0xe0+i))} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if resp, err := sender().Post(ctx, r.eventURL(), b); err != nil || resp.Status != 200 {
					t.Errorf("repost: %v %d %s", err, resp.Status, resp.Body)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	testkit.MustSay(t, c.replyTo(t, d2.MessageID).Card, "OKR period created", "2022-02")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 2 {
		t.Errorf("create calls = %d, want 2 (one per message)", n)
	}
	if n := len(c.emu.Periods()); n != 2 {
		t.Errorf("periods = %d, want 2", n)
	}
}

// burst sends n different /newperiod commands at once through the front.
func burst(t *testing.T, c *cluster, n int) []feishuemu.Delivery {
	t.Helper()
	out := make([]feishuemu.Delivery, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := c.emu.PostMessage(context.Background(), feishuemu.UserMessage{
				Text: fmt.Sprintf("/newperiod %d-%02d", 2000+i/12, i%12+1), SenderOpenID: testkit.Operator})
			if err != nil || !d.OK() {
				t.Errorf("PostMessage: %v %d %s", err, d.Status, d.Body)
			}
			out[i] = d
		}()
	}
	wg.Wait()
	return out
}

func checkBurst(t *testing.T, c *cluster, ds []feishuemu.Delivery) {
	t.Helper()
	for _, d := range ds {
		testkit.MustSay(t, c.replyTo(t, d.MessageID).Card, "OKR period created")
	}
	if n := len(c.emu.Periods()); n != len(ds) {
		t.Errorf("periods = %d, want %d", n, len(ds))
	}
	per := make([]int, len(c.reps))
	for _, h := range c.Hits() {
		per[h.replica]++
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("replica %d got no event (per replica: %v): the burst was not spread", i, per)
		}
	}
}

func TestReplicasColdBurstFetchesOneToken(t *testing.T) {
	t.Parallel()
	// Not started: the commands themselves find the cache cold.
	c := newCluster(t, 3, clusterOpts{cfg: func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly }})
	// Slow, so every replica asks before the first fetch is answered.
	c.emu.SetLatency(feishuemu.APIToken, 200*time.Millisecond)
	ds := burst(t, c, 30)
	checkBurst(t, c, ds)
	if n := c.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d across 3 replicas, want 1", n)
	}
	for i, r := range c.reps {
		if !r.app.Tokens.Valid() {
			t.Errorf("replica %d holds no valid token", i)
		}
	}
}

func TestReplicasStartupFetchesOneToken(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, clusterOpts{cfg: func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly }})
	c.emu.SetLatency(feishuemu.APIToken, 200*time.Millisecond)
	c.startAll() // three replicas start at the same moment
	for i, r := range c.reps {
		eventually(t, 5*time.Second, fmt.Sprintf("replica %d ready", i), func() (bool, string) {
			code, body := readyz(r)
			return code == 200, fmt.Sprintf("%d %s", code, body)
		})
	}
	if n := c.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches at start-up = %d across 3 replicas, want 1", n)
	}
	ds := burst(t, c, 15)
	checkBurst(t, c, ds)
	if n := c.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want still 1", n)
	}
}

func TestReplicasClickCreatesOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, clusterOpts{start: true})
	d := c.say(t, "/newperiod 2022-07") // no default rule: a rule picker
	picker := c.replyTo(t, d.MessageID)
	var btn map[string]any
	for _, v := range feishuemu.ButtonValues(picker.Card) {
		if v["r"] == quarterly {
			btn = v
		}
	}
	if btn == nil {
		t.Fatalf("no quarterly button on the picker: %v", feishuemu.ButtonValues(picker.Card))
	}
	// Two operators click at once; the front sends the callbacks to
	// different replicas.
	results := make([]feishuemu.ClickResult, 2)
	var wg sync.WaitGroup
	for k, who := range []string{testkit.Operator, testkit.Operator2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: who, Value: btn})
			if err != nil {
				t.Error(err)
			}
			results[k] = res
		}()
	}
	wg.Wait()
	var clicked []int
	for _, h := range c.Hits() {
		if h.path == c.reps[0].app.Config.Server.CardPath && h.replica >= 0 {
			clicked = append(clicked, h.replica)
		}
	}
	if len(clicked) != 2 || clicked[0] == clicked[1] {
		t.Fatalf("the clicks reached replicas %v, want two different ones", clicked)
	}
	// And a third click later, on either.
	if _, err := c.emu.Click(context.Background(), feishuemu.Click{MessageID: picker.ID, OperatorOpenID: testkit.Operator, Value: btn}); err != nil {
		t.Fatal(err)
	}
	c.settle(t)
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Fatalf("create calls = %d across replicas, want 1", n)
	}
	p := c.emu.Periods()[0]
	if p.RuleID != quarterly || p.StartMonth != "2022-07" {
		t.Fatalf("created %+v", p)
	}
	dup := 0
	for _, res := range results {
		if strings.Contains(string(res.Body), "already being handled or done") {
			dup++
		}
	}
	if dup != 1 {
		t.Errorf("%d of the 2 simultaneous clicks were told it is already handled, want 1: %s | %s",
			dup, results[0].Body, results[1].Body)
	}
	updated, _ := c.emu.Message(picker.ID)
	testkit.MustSay(t, updated.Card, "OKR period created", p.ID)
}

func TestReplicasRedisOutage(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, clusterOpts{start: true, cfg: func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly }})
	for i, r := range c.reps {
		eventually(t, 5*time.Second, fmt.Sprintf("replica %d ready", i), func() (bool, string) {
			code, body := readyz(r)
			return code == 200, fmt.Sprintf("%d %s", code, body)
		})
	}
	c.replyTo(t, c.say(t, "/help").MessageID)

	c.redis.Stop()
	// Events are refused with 503, so that Feishu delivers them again.
	var refused feishuemu.Delivery
	took := eventually(t, 10*time.Second, "an event answered 503 with Redis down", func() (bool, string) {
		d, _ := c.emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/newperiod 2023-03", SenderOpenID: testkit.Operator})
		refused = d
		return d.Status == http.StatusServiceUnavailable, fmt.Sprintf("status %d err %q body %s", d.Status, d.Err, d.Body)
	})
	t.Logf("503 after %s", took.Round(time.Millisecond))
	for i, r := range c.reps {
		eventually(t, 10*time.Second, fmt.Sprintf("replica %d /readyz 503", i), func() (bool, string) {
			code, body := readyz(r)
			return code == http.StatusServiceUnavailable && strings.Contains(body, "store"), fmt.Sprintf("%d %s", code, body)
		})
	}
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 0 {
		t.Fatalf("create calls = %d while Redis is down, want 0", n)
	}

	c.redis.Restart(t)
	// Feishu's redelivery of the refused event is taken and handled, by the
	// same apps, without a restart.
	took = eventually(t, 5*time.Second, "the refused event accepted after Redis is back", func() (bool, string) {
		d, err := c.emu.Redeliver(context.Background(), refused.EventID)
		return err == nil && d.Status == 200, fmt.Sprintf("status %d err %v body %s", d.Status, err, d.Body)
	})
	t.Logf("accepted again after %s", took.Round(time.Millisecond))
	testkit.MustSay(t, c.replyTo(t, refused.MessageID).Card, "OKR period created", "2023-03")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
	for i, r := range c.reps {
		eventually(t, 5*time.Second, fmt.Sprintf("replica %d /readyz 200 again", i), func() (bool, string) {
			code, body := readyz(r)
			return code == 200, fmt.Sprintf("%d %s", code, body)
		})
	}
	// Both replicas work, and dedup is shared again.
	c.mode.Store(fanOut)
	d := c.say(t, "/newperiod 2023-05")
	testkit.MustSay(t, c.replyTo(t, d.MessageID).Card, "OKR period created", "2023-05")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 2 {
		t.Errorf("create calls = %d, want 2", n)
	}
}

// TestReplicasRedisHangs: Redis stops answering without closing anything
// (a hung server, a network dropping packets), long enough for the bot to
// give up. The claim sent meanwhile still runs when Redis wakes up; the
// event answered 503 must be handled when Feishu delivers it again.
func TestReplicasRedisHangs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, clusterOpts{
		start: true,
		cfg:   func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly },
		emu: func(o *feishuemu.Options) {
			o.EventTimeout = 15 * time.Second // longer than Feishu, to see the answer
			o.Redelivery = []time.Duration{1500 * time.Millisecond, time.Second, time.Second}
		},
	})
	c.replyTo(t, c.say(t, "/help").MessageID)

	c.redis.Pause(t)
	start := time.Now()
	d, err := c.emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/newperiod 2023-04", SenderOpenID: testkit.Operator})
	took := time.Since(start)
	c.redis.Resume(t)
	if err != nil || d.Status != http.StatusServiceUnavailable {
		t.Fatalf("event with Redis hung: %v status %d body %s", err, d.Status, d.Body)
	}
	if took > 10*time.Second {
		t.Errorf("503 took %s with Redis hung, want within 10 s", took.Round(time.Millisecond))
	}
	// The emulator redelivers as Feishu does (on a compressed schedule).
	eventually(t, 8*time.Second, "a reply to the event refused while Redis hung", func() (bool, string) {
		n := len(c.repliesTo(t, d.MessageID))
		return n > 0, fmt.Sprintf("%d replies; deliveries %s", n, deliveries(c, d.EventID))
	})
	testkit.MustSay(t, c.replyTo(t, d.MessageID).Card, "OKR period created", "2023-04")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

// TestReplicasRedisStalls: Redis stalls for less than the bot's patience
// (a slow fork, a failover). Whatever the bot answers, the message is
// handled exactly once.
func TestReplicasRedisStalls(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, clusterOpts{
		start: true,
		cfg:   func(cfg *config.Config) { cfg.OKR.DefaultPeriodRuleID = monthly },
		emu: func(o *feishuemu.Options) {
			o.EventTimeout = 15 * time.Second
			o.Redelivery = []time.Duration{time.Second, time.Second, time.Second}
		},
	})
	c.replyTo(t, c.say(t, "/help").MessageID)

	c.redis.Pause(t)
	resumed := make(chan struct{})
	go func() {
		defer close(resumed)
		time.Sleep(2500 * time.Millisecond) // past the 2 s read timeout, within the retry
		c.redis.Resume(t)
	}()
	d, err := c.emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/newperiod 2023-06", SenderOpenID: testkit.Operator})
	<-resumed
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("answered %d %s", d.Status, d.Body)
	eventually(t, 8*time.Second, "a reply to the event sent while Redis stalled", func() (bool, string) {
		n := len(c.repliesTo(t, d.MessageID))
		return n > 0, fmt.Sprintf("%d replies; deliveries %s", n, deliveries(c, d.EventID))
	})
	testkit.MustSay(t, c.replyTo(t, d.MessageID).Card, "OKR period created", "2023-06")
	if n := c.emu.CallCount(feishuemu.APICreatePeriod); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

// deliveries describes the pushes of one event, for failure messages.
func deliveries(c *cluster, eventID string) string {
	var out []string
	for _, d := range c.emu.Deliveries() {
		if d.EventID == eventID {
			out = append(out, fmt.Sprintf("#%d: %d %s", d.Attempt, d.Status, strings.TrimSpace(string(d.Body))))
		}
	}
	return strings.Join(out, "; ")
}

// lateLock is a TokenShare whose LockTokenFetch reaches Redis only after
// another replica has shared a token and let go of the lock: the
// interleaving where a replica finds no token, and by the time it asks for
// the lock the other replica's fetch is over.
type lateLock struct {
	*store.Redis
	entered chan struct{}
	once    sync.Once
}

func (l *lateLock) LockTokenFetch(ctx context.Context, ttl time.Duration) (bool, error) {
	l.once.Do(func() { close(l.entered) })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if tok, _, _ := l.LoadToken(ctx); tok != "" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if ok, err := l.Redis.LockTokenFetch(ctx, ttl); ok || err != nil {
			return ok, err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false, nil
}

func TestReplicasTokenLockAfterAnotherFetch(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, clusterOpts{})
	s, err := store.NewRedis(c.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	late := &lateLock{Redis: s, entered: make(chan struct{})}
	c.reps[1].app.Tokens.ShareTokens(late)

	ctx := context.Background()
	got := make(chan string, 1)
	go func() {
		tok, err := c.reps[1].app.Tokens.Token(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- tok
	}()
	// Replica 1 found no token and asks for the lock, while replica 0
	// fetches and shares one.
	<-late.entered
	tok0, err := c.reps[0].app.Tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok1 := <-got; tok1 != tok0 {
		t.Errorf("replicas hold different tokens %q and %q", tok0, tok1)
	}
	if n := c.emu.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d, want 1: the lock holder fetched although a token was shared", n)
	}
}
