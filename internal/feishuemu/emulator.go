// Package feishuemu is an in-memory emulator of the parts of the Feishu (Lark)
// Open Platform that okrbot talks to: the tenant access token endpoint, bot
// info, the OKR period APIs, IM reply/send/patch, the delayed card update API,
// and the Feishu → bot direction: signed, encrypted event pushes and card
// callbacks, or the same messages over the long connection (ws.go) that the
// SDK's ws client opens.
//
// It is faithful enough that the official Go SDK (oapi-sdk-go/v3) works
// against it unchanged when pointed at it with lark.WithOpenBaseUrl, and it
// offers inspection (Calls, Messages, Periods), fault injection (Inject,
// SetLatency) and change notification (Version, Wait) for tests and for the
// browser sandbox. All state hangs off *Emulator; it is safe for concurrent
// use.
package feishuemu

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// API names used in Call.API, Fault.API, SetLatency and CallCount (see also
// APIWSEndpoint in ws.go).
const (
	APIToken        = "token"
	APIBotInfo      = "bot_info"
	APIListRules    = "list_rules"
	APICreatePeriod = "create_period"
	APIListPeriods  = "list_periods"
	APIPatchPeriod  = "patch_period"
	APIReply        = "reply"
	APISend         = "send"
	APIPatchMessage = "patch_message"
	APICardUpdate   = "card_update"
	// APIUnknown marks a request to a path or method the emulator does not
	// serve; it is answered 404 with code 99991201 and recorded like any call.
	APIUnknown = "unknown"
)

// Defaults used when Options leaves a field empty. They are example values in
// the shapes Feishu uses, so that an emulator built from zero Options works.
const (
	DefaultAppID             = "cli_a5e3f0c1d2b4e00d"
	DefaultAppSecret         = "emulatorAppSecret7Hq2Lx9Pz"
	DefaultVerificationToken = "emulatorVerifyToken456"
	DefaultBotOpenID         = "ou_b07e1a2c3d4e5f60718293a4b5c6d7e8"
	DefaultBotName           = "OKR Bot"
	DefaultTenantKey         = "1a2b3c4d5e6f7a8b"
	// DefaultUserOpenID is the sender of UserMessage and the operator of
	// Click when they name none.
	DefaultUserOpenID = "ou_4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"
	// DefaultP2PChatID and DefaultGroupChatID are the chats UserMessage uses
	// when it names none.
	DefaultP2PChatID   = "oc_f0e1d2c3b4a5968778695a4b3c2d1e0f"
	DefaultGroupChatID = "oc_1b2c3d4e5f60718293a4b5c6d7e8f901"
	// DefaultTokenTTL is Feishu's tenant token lifetime.
	DefaultTokenTTL = 2 * time.Hour
	// DefaultDeliveryTimeout is how long Feishu waits for the bot to answer
	// an event push or a card callback.
	DefaultDeliveryTimeout = 3 * time.Second
)

// Options configure an Emulator. Zero fields take the defaults documented on
// each field.
type Options struct {
	// AppID and AppSecret are what the token endpoint accepts
	// (DefaultAppID / DefaultAppSecret when empty).
	AppID, AppSecret string
	// VerificationToken and EncryptKey are used when delivering events and
	// callbacks to the bot. An empty EncryptKey means plaintext, unsigned
	// bodies (as Feishu does for an app without an Encrypt Key).
	VerificationToken, EncryptKey string
	// BotOpenID and BotName are answered by GET /open-apis/bot/v3/info and
	// used for @-mentions of the bot.
	BotOpenID, BotName string
	TenantKey          string
	// TokenTTL is the tenant token lifetime (default 2h). Feishu's refresh
	// rule is scaled with it: the same token is returned while at least
	// TTL/4 remains, a new one otherwise; both stay valid until their own
	// expiry.
	TokenTTL time.Duration
	// Rules are the tenant's period rules; nil means DefaultRules().
	Rules []Rule
	// Periods are existing periods; ID, EndMonth and names are filled in
	// when empty.
	Periods []Period
	// Now is the emulator's clock (tokens, card tokens, uuid dedup, message
	// times); default time.Now.
	Now func() time.Time

	// Scopes granted to the app; nil means DefaultScopes().
	Scopes []string
	// EventTimeout and CallbackTimeout bound how long a delivery waits for
	// the bot's answer (default 3 s each, as Feishu does). Tests shorten
	// them to exercise timeouts quickly.
	EventTimeout, CallbackTimeout time.Duration
	// Redelivery, when non-nil, makes the emulator redeliver an event whose
	// delivery by PostMessage failed (error, timeout or non-200) after each
	// of these delays in turn, as Feishu does (FeishuRedelivery gives the
	// real schedule; tests pass a compressed one). Redeliveries stop at the
	// first success. Close stops pending redeliveries.
	Redelivery []time.Duration

	// DeliveryMode is how events and card callbacks reach the bot:
	// DeliveryWebhook (default) or DeliveryWebSocket; see SetDeliveryMode.
	DeliveryMode string
	// WSClientConfig is what the long-connection endpoint hands out; zero
	// fields take DefaultWSClientConfig's values. Tests shorten
	// ReconnectInterval and ReconnectNonce (seconds) to see reconnects
	// quickly.
	WSClientConfig WSClientConfig
	// WSMaxConns caps an app's live long connections (default 50, as
	// Feishu); the next handshake is refused with 514/1000040350.
	WSMaxConns int
	// WSSplit is how many frames each data message is split over (default
	// 1); see SetWSSplit.
	WSSplit int

	// Location is the tenant's time zone, in which period boundaries
	// (period_start_time, period_end_time) fall on month starts. Default
	// Asia/Shanghai (a fixed +08:00 zone of that name when the zone
	// database is missing).
	Location *time.Location
}

// FeishuRedelivery is Feishu's event redelivery schedule: 15 s, 5 min, 1 h
// and 6 h after a failed push.
func FeishuRedelivery() []time.Duration {
	return []time.Duration{15 * time.Second, 5 * time.Minute, time.Hour, 6 * time.Hour}
}

// DefaultScopes are the scopes granted when Options.Scopes is nil: full OKR
// access, messaging, and receipt of p2p messages, of all group messages and
// of messages from other bots. Granting all group messages means the bot
// itself must check that it was @-mentioned, as the product contract asks.
func DefaultScopes() []string {
	return []string{
		"okr:okr",
		"im:message",
		"im:message.p2p_msg:readonly",
		"im:message.group_at_msg:readonly",
		"im:message.group_msg",
		"im:message.group_at_msg.include_bot:readonly",
	}
}

// Emulator is an in-memory Feishu Open Platform. Create it with New and
// serve it with an http.Server or httptest.NewServer.
type Emulator struct {
	opts       Options // effective options; AppSecret is the initial one
	eventHTTP  *http.Client
	cardHTTP   *http.Client
	closeCtx   context.Context
	closeStop  context.CancelFunc
	background sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	version      uint64
	changed      chan struct{} // closed and replaced on every state change
	appSecret    string
	tokens       map[string]*tenantToken
	current      *tenantToken
	tokenFetches int
	scopes       map[string]bool
	rules        []Rule
	periods      []Period
	nextID       int64
	calls        []Call
	faults       map[string][]*queuedFault
	latency      map[string]time.Duration
	messages     []*message
	msgByID      map[string]*message
	chats        map[string]string // chat id → chat type
	uuids        map[string]uuidEntry
	cardTokens   map[string]*cardToken
	events       map[string]*storedEvent
	deliveries   []Delivery
	eventURL     string
	cardURL      string
	ws           wsState
}

// New returns an emulator configured by opts.
func New(opts Options) *Emulator {
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.AppSecret == "" {
		opts.AppSecret = DefaultAppSecret
	}
	if opts.VerificationToken == "" {
		opts.VerificationToken = DefaultVerificationToken
	}
	if opts.BotOpenID == "" {
		opts.BotOpenID = DefaultBotOpenID
	}
	if opts.BotName == "" {
		opts.BotName = DefaultBotName
	}
	if opts.TenantKey == "" {
		opts.TenantKey = DefaultTenantKey
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rules == nil {
		opts.Rules = DefaultRules()
	}
	if opts.Scopes == nil {
		opts.Scopes = DefaultScopes()
	}
	if opts.EventTimeout <= 0 {
		opts.EventTimeout = DefaultDeliveryTimeout
	}
	if opts.CallbackTimeout <= 0 {
		opts.CallbackTimeout = DefaultDeliveryTimeout
	}
	if opts.DeliveryMode == "" {
		opts.DeliveryMode = DeliveryWebhook
	}
	checkMode(opts.DeliveryMode)
	opts.WSClientConfig = opts.WSClientConfig.withDefaults()
	if opts.WSMaxConns < 1 {
		opts.WSMaxConns = DefaultWSMaxConns
	}
	opts.WSSplit = max(opts.WSSplit, 1)
	if opts.Location == nil {
		opts.Location = tenantLocation()
	}
	// Copy caller-owned slices so later changes by the caller do not leak in.
	opts.Rules = append([]Rule(nil), opts.Rules...)
	opts.Scopes = append([]string(nil), opts.Scopes...)
	opts.Redelivery = append([]time.Duration(nil), opts.Redelivery...)
	seed := opts.Periods
	opts.Periods = nil

	ctx, stop := context.WithCancel(context.Background())
	e := &Emulator{
		opts:       opts,
		eventHTTP:  &http.Client{Timeout: opts.EventTimeout},
		cardHTTP:   &http.Client{Timeout: opts.CallbackTimeout},
		closeCtx:   ctx,
		closeStop:  stop,
		changed:    make(chan struct{}),
		appSecret:  opts.AppSecret,
		tokens:     map[string]*tenantToken{},
		scopes:     map[string]bool{},
		faults:     map[string][]*queuedFault{},
		latency:    map[string]time.Duration{},
		msgByID:    map[string]*message{},
		chats:      map[string]string{DefaultP2PChatID: "p2p", DefaultGroupChatID: "group"},
		uuids:      map[string]uuidEntry{},
		cardTokens: map[string]*cardToken{},
		events:     map[string]*storedEvent{},
	}
	e.initWS(opts)
	for _, s := range opts.Scopes {
		e.scopes[s] = true
	}
	for _, r := range opts.Rules {
		e.AddRule(r)
	}
	for _, p := range seed {
		e.AddPeriod(p)
	}
	return e
}

// Options returns the effective options: defaults filled in, the current
// app secret, the current rules and periods.
func (e *Emulator) Options() Options {
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.opts
	o.AppSecret = e.appSecret
	o.Rules = append([]Rule(nil), e.rules...)
	o.Periods = append([]Period(nil), e.periods...)
	o.Scopes = e.scopeListLocked()
	o.Redelivery = append([]time.Duration(nil), e.opts.Redelivery...)
	o.DeliveryMode, o.WSClientConfig, o.WSMaxConns, o.WSSplit = e.ws.mode, e.ws.config, e.ws.maxConns, e.ws.split
	return o
}

// tenantLocation is the default tenant zone. The zone database may be
// missing (a minimal container); China has had no DST since 1991, so a
// fixed +08:00 zone gives the same month boundaries.
func tenantLocation() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("Asia/Shanghai", 8*60*60)
}

// Close stops pending automatic redeliveries, closes every long connection
// and waits for all of it to finish. The emulator keeps serving API
// requests after Close, but refuses new long connections (the endpoint
// answers "system busy", so clients keep retrying until they are stopped).
func (e *Emulator) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.closeStop()
	e.closeWS()
	e.background.Wait()
}

func (e *Emulator) now() time.Time { return e.opts.Now() }

// bumpLocked records a state change and wakes every Wait. e.mu must be held.
func (e *Emulator) bumpLocked() {
	e.version++
	close(e.changed)
	e.changed = make(chan struct{})
}

// Version is a counter that increases on every state change: each API call
// (when it starts and when it ends), message, period, rule, delivery and
// click. Live UIs poll it cheaply or block in Wait.
func (e *Emulator) Version() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.version
}

// Wait blocks until Version() > after or ctx is done, and returns the current
// version. It is woken by a channel closed on change, never by polling.
func (e *Emulator) Wait(ctx context.Context, after uint64) uint64 {
	for {
		e.mu.Lock()
		v, ch := e.version, e.changed
		e.mu.Unlock()
		if v > after {
			return v
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return e.Version()
		}
	}
}

// Call is one request the emulator received.
type Call struct {
	Seq    int
	Time   time.Time // by the emulator's clock, when the request arrived
	API    string    // one of the API constants
	Method string
	Path   string
	// Status is the HTTP status answered; 0 while the call is in flight, or
	// when the connection was dropped (Hangup) or the client went away
	// before the answer.
	Status   int
	Code     int // Feishu code answered
	LogID    string
	Duration time.Duration // real time spent answering
}

// Calls returns every API request so far, in order of arrival.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CallCount returns how many requests were made to api (finished or not).
func (e *Emulator) CallCount(api string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if c.API == api {
			n++
		}
	}
	return n
}

// Fault describes an injected failure. Faults queue per API and are consumed
// first in, first out, one per matching request.
type Fault struct {
	// API is the API constant the fault applies to; "" matches any API
	// (consulted after the API's own queue).
	API string
	// Status is the HTTP status. 0 with Code set takes the status from the
	// code's table (400 when unknown). Status 429 with Code 0 answers
	// 99991400; a 5xx with Code 0 answers an internal-error code.
	Status int
	// Code is the Feishu code in the body.
	Code int
	// Msg overrides the documented msg for Code.
	Msg string
	// Delay waits before answering; it ends early when the client goes away.
	// A fault with only Delay set (no Status, Code or Hangup) makes the real
	// answer slow.
	Delay time.Duration
	// RateLimitReset sets x-ogw-ratelimit-reset (and x-ogw-ratelimit-limit).
	// A 429 always carries both headers; the reset defaults to 1 s.
	RateLimitReset int
	// Hangup closes the connection without an answer (a TCP reset).
	Hangup bool
	// AfterEffect performs the real operation first, then waits Delay and
	// answers with the fault: a create that succeeded but whose answer was
	// lost or slow.
	AfterEffect bool
	// Times is how many requests the fault applies to: 0 means 1, -1 means
	// until ClearFaults.
	Times int
}

type queuedFault struct {
	f    Fault
	left int // -1 = unlimited
}

// answers reports whether the fault replaces the real answer (as opposed to
// only delaying it).
func (f Fault) answers() bool { return f.Status != 0 || f.Code != 0 || f.Hangup }

// Inject queues a fault.
func (e *Emulator) Inject(f Fault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[f.API] = append(e.faults[f.API], &queuedFault{f: f, left: left})
	e.bumpLocked()
}

// ClearFaults drops every queued fault (latencies stay; see SetLatency).
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = map[string][]*queuedFault{}
	e.bumpLocked()
}

// PendingFaults returns how many queued faults are left for api ("" = the
// catch-all queue); an unlimited fault counts as one.
func (e *Emulator) PendingFaults(api string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.faults[api])
}

// SetLatency sets a persistent delay for every call of api ("" = every API
// that has no latency of its own); 0 clears it.
func (e *Emulator) SetLatency(api string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d <= 0 {
		delete(e.latency, api)
	} else {
		e.latency[api] = d
	}
	e.bumpLocked()
}

func (e *Emulator) popFaultLocked(api string) (Fault, bool) {
	for _, key := range []string{api, ""} {
		q := e.faults[key]
		if len(q) == 0 {
			continue
		}
		head := q[0]
		if head.left > 0 {
			head.left--
			if head.left == 0 {
				e.faults[key] = q[1:]
			}
		}
		return head.f, true
	}
	return Fault{}, false
}

func (e *Emulator) latencyLocked(api string) time.Duration {
	if d, ok := e.latency[api]; ok {
		return d
	}
	return e.latency[""]
}

// answer is a response not yet written, so that an AfterEffect fault can
// perform the operation and throw its answer away.
type answer struct {
	status int
	code   int
	body   []byte
	header http.Header
}

// request is what handlers get.
type request struct {
	r      *http.Request
	api    string
	body   []byte
	logID  string
	pathID string // {period_id} or {message_id}
}

type handler func(*request) answer

// route maps a request to its API and handler.
func (e *Emulator) route(r *http.Request) (string, string, handler) {
	p := r.URL.Path
	m := r.Method
	const (
		periods  = "/open-apis/okr/v1/periods"
		messages = "/open-apis/im/v1/messages"
	)
	switch {
	case p == "/open-apis/auth/v3/tenant_access_token/internal" && m == http.MethodPost:
		return APIToken, "", e.handleToken
	case p == "/open-apis/bot/v3/info" && m == http.MethodGet:
		return APIBotInfo, "", e.handleBotInfo
	case p == "/open-apis/okr/v1/period_rules" && m == http.MethodGet:
		return APIListRules, "", e.handleListRules
	case p == periods && m == http.MethodPost:
		return APICreatePeriod, "", e.handleCreatePeriod
	case p == periods && m == http.MethodGet:
		return APIListPeriods, "", e.handleListPeriods
	case strings.HasPrefix(p, periods+"/") && m == http.MethodPatch && !strings.Contains(p[len(periods)+1:], "/"):
		return APIPatchPeriod, p[len(periods)+1:], e.handlePatchPeriod
	case p == messages && m == http.MethodPost:
		return APISend, "", e.handleSend
	case strings.HasPrefix(p, messages+"/") && strings.HasSuffix(p, "/reply") && m == http.MethodPost:
		id := strings.TrimSuffix(p[len(messages)+1:], "/reply")
		if id != "" && !strings.Contains(id, "/") {
			return APIReply, id, e.handleReply
		}
	case strings.HasPrefix(p, messages+"/") && m == http.MethodPatch && !strings.Contains(p[len(messages)+1:], "/"):
		return APIPatchMessage, p[len(messages)+1:], e.handlePatchMessage
	case p == "/open-apis/interactive/v1/card/update" && m == http.MethodPost:
		return APICardUpdate, "", e.handleCardUpdate
	case p == WSEndpointPath && m == http.MethodPost:
		return APIWSEndpoint, "", e.handleWSEndpoint
	}
	return APIUnknown, "", e.handleUnknown
}

// maxRequestBody bounds what the emulator reads from a request; Feishu's own
// limits are far lower, so anything larger is garbage.
const maxRequestBody = 4 << 20

// ServeHTTP serves the /open-apis/... endpoints, the long-connection
// endpoint (WSEndpointPath) and its WebSocket upgrades (WSPath).
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == WSPath && r.Method == http.MethodGet {
		// Not an API call: the connection lives on after the handler, and
		// its traffic is in WSFrames.
		e.serveWS(w, r)
		return
	}
	started := time.Now()
	api, pathID, h := e.route(r)
	logID := newLogID(e.now())

	e.mu.Lock()
	idx := len(e.calls)
	e.calls = append(e.calls, Call{Seq: idx + 1, Time: e.now(), API: api, Method: r.Method, Path: r.URL.Path, LogID: logID})
	if api == APIToken {
		e.tokenFetches++
	}
	fault, faulted := Fault{}, false
	if api != APIUnknown {
		fault, faulted = e.popFaultLocked(api)
	}
	lat := e.latencyLocked(api)
	e.bumpLocked()
	e.mu.Unlock()

	status, code := 0, 0
	defer func() {
		e.mu.Lock()
		c := &e.calls[idx]
		c.Status, c.Code, c.Duration = status, code, time.Since(started)
		e.bumpLocked()
		e.mu.Unlock()
	}()

	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return // the client is gone; nothing can be answered
	}
	req := &request{r: r, api: api, body: body, logID: logID, pathID: pathID}
	ctx := r.Context()

	if !sleep(ctx, lat) {
		return
	}
	if faulted && !fault.AfterEffect {
		if !sleep(ctx, fault.Delay) {
			return
		}
		if fault.answers() {
			status, code = e.answerFault(w, req, fault)
			return
		}
	}
	a := h(req)
	if faulted && fault.AfterEffect {
		if !sleep(ctx, fault.Delay) {
			return
		}
		if fault.answers() {
			status, code = e.answerFault(w, req, fault)
			return
		}
	}
	write(w, logID, a)
	status, code = a.status, a.code
}

// sleep waits d or until ctx is done; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func write(w http.ResponseWriter, logID string, a answer) {
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Tt-Logid", logID)
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// answerFault writes (or hangs up for) an injected fault and returns the
// status and code to record.
func (e *Emulator) answerFault(w http.ResponseWriter, req *request, f Fault) (int, int) {
	if f.Hangup {
		hangup(w)
		return 0, 0
	}
	code, status := f.Code, f.Status
	if code == 0 {
		switch {
		case status == http.StatusTooManyRequests:
			code = CodeRateLimited
		case status >= 500 && isOKR(req.api):
			code = 1009999
		case status >= 500:
			code = 5000
		}
	}
	msg := f.Msg
	if req.api == APIWSEndpoint && status == 0 {
		// The endpoint answers its codes with HTTP 200; the SDK reads the
		// code only then.
		status = http.StatusOK
		if msg == "" {
			msg = wsCodeMsg(code)
		}
	}
	if status == 0 {
		status, _ = codeInfo(code)
	}
	if msg == "" {
		_, msg = codeInfo(code)
	}
	a := errAnswerStatus(req.logID, status, code, msg, nil)
	if status == http.StatusTooManyRequests || f.RateLimitReset > 0 {
		reset := f.RateLimitReset
		if reset <= 0 {
			reset = 1
		}
		a.header = http.Header{}
		a.header.Set("x-ogw-ratelimit-limit", itoa(rateLimitFor(req.api)))
		a.header.Set("x-ogw-ratelimit-reset", itoa(reset))
	}
	write(w, req.logID, a)
	return a.status, a.code
}

// rateLimitFor is the documented per-app limit of an API, advertised in
// x-ogw-ratelimit-limit: 100/min for OKR, 50/s for IM and the rest.
func rateLimitFor(api string) int {
	if isOKR(api) {
		return 100
	}
	return 50
}

func isOKR(api string) bool {
	switch api {
	case APIListRules, APICreatePeriod, APIListPeriods, APIPatchPeriod:
		return true
	}
	return false
}

// hangup drops the connection without an answer. A linger of 0 makes the
// close a TCP reset, which is what clients see when a gateway dies
// mid-request. Without a hijackable connection (HTTP/2), aborting the handler
// resets the stream instead.
func hangup(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (e *Emulator) handleUnknown(req *request) answer {
	return errAnswer(req.logID, 99991201, "", nil)
}
