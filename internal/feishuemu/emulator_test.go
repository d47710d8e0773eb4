package feishuemu

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkokr "github.com/larksuite/oapi-sdk-go/v3/service/okr/v1"
)

func TestTokenLifecycle(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Options{Now: clk.Now})
	o := f.emu.Options()
	first := f.token

	botInfo := func(tok string) int {
		_, _, raw := f.raw(t, http.MethodGet, "/open-apis/bot/v3/info", tok, nil)
		return code(decode(t, raw))
	}

	// Same token while >= 30 min remain, with the remaining lifetime.
	clk.Advance(time.Hour)
	a := f.fetchToken(t, o.AppID, o.AppSecret)
	if a.Code != 0 || a.Token != first || a.Expire != 3600 {
		t.Fatalf("after 1h: %+v, want same token %s with expire 3600", a, first)
	}
	clk.Advance(29*time.Minute + 59*time.Second)
	if a := f.fetchToken(t, o.AppID, o.AppSecret); a.Token != first || a.Expire != 1801 {
		t.Fatalf("with 30m01s left: %+v, want the same token", a)
	}
	// A new token once less than 30 min remain; both stay valid.
	clk.Advance(2 * time.Second)
	a = f.fetchToken(t, o.AppID, o.AppSecret)
	if a.Token == first || !strings.HasPrefix(a.Token, "t-") || a.Expire != 7200 {
		t.Fatalf("with 29m59s left: %+v, want a new t- token with expire 7200", a)
	}
	second := a.Token
	if c := botInfo(first); c != 0 {
		t.Fatalf("old token before its expiry answered %d", c)
	}
	// The old token dies at its own expiry, the new one lives on.
	clk.Advance(30 * time.Minute)
	if c := botInfo(first); c != CodeTokenInvalid {
		t.Fatalf("expired token answered %d, want %d", c, CodeTokenInvalid)
	}
	if c := botInfo(second); c != 0 {
		t.Fatalf("new token answered %d", c)
	}

	// Revocation: every token answers 99991663, the next fetch is a new token.
	f.emu.RevokeTokens()
	if c := botInfo(second); c != CodeTokenInvalid {
		t.Fatalf("revoked token answered %d", c)
	}
	third := f.fetchToken(t, o.AppID, o.AppSecret).Token
	if third == second || botInfo(third) != 0 {
		t.Fatalf("after revoke got %q (old %q)", third, second)
	}
	if got := f.emu.TokenFetches(); got != 5 {
		t.Fatalf("TokenFetches = %d, want 5", got)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t, Options{AppID: "cli_x", AppSecret: "s1"})
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   int
	}{
		{"ok", `{"app_id":"cli_x","app_secret":"s1"}`, 200, 0},
		{"wrong secret", `{"app_id":"cli_x","app_secret":"nope"}`, 400, CodeAppSecretInvalid},
		{"wrong app", `{"app_id":"cli_y","app_secret":"s1"}`, 400, CodeAppSecretInvalid},
		{"bad json", `{"app_id":`, 400, CodeInvalidParam},
		{"missing secret", `{"app_id":"cli_x"}`, 400, CodeInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, raw := f.raw(t, http.MethodPost, "/open-apis/auth/v3/tenant_access_token/internal", "", []byte(tt.body))
			m := decode(t, raw)
			if status != tt.wantStatus || code(m) != tt.wantCode {
				t.Fatalf("got %d %s, want %d code %d", status, raw, tt.wantStatus, tt.wantCode)
			}
			if h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("X-Tt-Logid") == "" {
				t.Fatalf("headers %v", h)
			}
			if tt.wantCode == 0 {
				if _, ok := m["data"]; ok || m["tenant_access_token"] == nil {
					t.Fatalf("token fields must be top level: %s", raw)
				}
			} else if dig(m, "error", "log_id") != h.Get("X-Tt-Logid") {
				t.Fatalf("error.log_id %v != X-Tt-Logid %q", dig(m, "error", "log_id"), h.Get("X-Tt-Logid"))
			}
		})
	}

	// A rotated secret: the old one is refused, the new one accepted.
	f.emu.SetAppSecret("s2")
	if a := f.fetchToken(t, "cli_x", "s1"); a.Code != CodeAppSecretInvalid {
		t.Fatalf("old secret: %+v", a)
	}
	if a := f.fetchToken(t, "cli_x", "s2"); a.Code != 0 {
		t.Fatalf("new secret: %+v", a)
	}
}

func TestAuthErrors(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"missing", "", CodeTokenMissing},
		{"bad format", "Bearer abc", CodeTokenBadFormat},
		{"unknown tenant token", "Bearer t-unknown", CodeTokenInvalid},
		{"user token", "Bearer u-abc", CodeUserTokenNotSupport},
		{"valid", "Bearer " + f.token, 0},
	}
	paths := []struct{ method, path string }{
		{http.MethodGet, "/open-apis/bot/v3/info"},
		{http.MethodGet, "/open-apis/okr/v1/period_rules"},
		{http.MethodPost, "/open-apis/okr/v1/periods"},
		{http.MethodPost, "/open-apis/im/v1/messages/om_x/reply"},
	}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.name+" "+p.path, func(t *testing.T) {
				req, _ := http.NewRequest(p.method, f.srv.URL+p.path, strings.NewReader(`{}`))
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				if tt.want == 0 {
					if c := code(m); c == CodeTokenMissing || c == CodeTokenBadFormat || c == CodeTokenInvalid {
						t.Fatalf("valid token refused: %v", m)
					}
					return
				}
				if resp.StatusCode != 400 || code(m) != tt.want {
					t.Fatalf("got %d %v, want 400 code %d", resp.StatusCode, m, tt.want)
				}
			})
		}
	}
}

func TestRevokeScope(t *testing.T) {
	f := newFixture(t, Options{})
	f.emu.RevokeScope("okr:okr")
	ctx := context.Background()
	resp, err := f.client.Okr.V1.Period.Create(ctx, larkokr.NewCreatePeriodReqBuilder().
		Body(larkokr.NewCreatePeriodReqBodyBuilder().PeriodRuleId(MonthlyRuleID).StartMonth("2022-01").Build()).Build(), f.tok())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != CodeScopeMissing || resp.StatusCode != 400 {
		t.Fatalf("got %d code %d, want 400 %d", resp.StatusCode, resp.Code, CodeScopeMissing)
	}
	if resp.Err == nil || len(resp.Err.PermissionViolations) == 0 || resp.Err.PermissionViolations[0].Subject != "okr:okr" {
		t.Fatalf("permission_violations missing: %s", resp.RawBody)
	}
	rules, err := f.client.Okr.V1.PeriodRule.List(ctx, f.tok())
	if err != nil || rules.Code != CodeScopeMissing {
		t.Fatalf("list rules without scope: %v %+v", err, rules)
	}
	if len(f.emu.Periods()) != 0 {
		t.Fatal("a period was created without the scope")
	}
	f.emu.GrantScope("okr:okr")
	resp, err = f.client.Okr.V1.Period.Create(ctx, larkokr.NewCreatePeriodReqBuilder().
		Body(larkokr.NewCreatePeriodReqBodyBuilder().PeriodRuleId(MonthlyRuleID).StartMonth("2022-01").Build()).Build(), f.tok())
	if err != nil || !resp.Success() {
		t.Fatalf("after grant: %v %+v", err, resp)
	}
}

func TestBotInfoAndUnknownPath(t *testing.T) {
	f := newFixture(t, Options{BotOpenID: "ou_bot", BotName: "Bot"})
	status, m := f.api(t, http.MethodGet, "/open-apis/bot/v3/info", nil)
	if status != 200 || code(m) != 0 || dig(m, "bot", "open_id") != "ou_bot" || dig(m, "bot", "app_name") != "Bot" {
		t.Fatalf("bot info: %d %v", status, m)
	}
	status, m = f.api(t, http.MethodGet, "/open-apis/nope", nil)
	if status != 404 || code(m) != 99991201 {
		t.Fatalf("unknown path: %d %v", status, m)
	}
	if n := f.emu.CallCount(APIUnknown); n != 1 {
		t.Fatalf("unknown calls = %d", n)
	}
}

func createReq(rule, month string) *larkokr.CreatePeriodReq {
	return larkokr.NewCreatePeriodReqBuilder().
		Body(larkokr.NewCreatePeriodReqBodyBuilder().PeriodRuleId(rule).StartMonth(month).Build()).Build()
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		wantCode   int
		wantHeader map[string]string
		wantErr    bool
		wantPeriod bool // whether the create really happened
	}{
		{name: "5xx without code", fault: Fault{Status: 500}, wantStatus: 500, wantCode: CodeOKRUnknown},
		{name: "code with its table status", fault: Fault{Code: CodeOKRNoPermission}, wantStatus: 403, wantCode: CodeOKRNoPermission},
		{name: "unknown code defaults to 400", fault: Fault{Code: 1234567}, wantStatus: 400, wantCode: 1234567},
		{name: "429 headers", fault: Fault{Status: 429, RateLimitReset: 7}, wantStatus: 429, wantCode: CodeRateLimited,
			wantHeader: map[string]string{"x-ogw-ratelimit-reset": "7", "x-ogw-ratelimit-limit": "100"}},
		{name: "429 default reset", fault: Fault{Code: CodeRateLimited}, wantStatus: 429, wantCode: CodeRateLimited,
			wantHeader: map[string]string{"x-ogw-ratelimit-reset": "1"}},
		{name: "504 is an SDK error", fault: Fault{Status: 504, Code: 1}, wantErr: true},
		{name: "hangup", fault: Fault{Hangup: true}, wantErr: true},
		{name: "after effect", fault: Fault{AfterEffect: true, Status: 500}, wantStatus: 500, wantCode: CodeOKRUnknown, wantPeriod: true},
		{name: "after effect hangup", fault: Fault{AfterEffect: true, Hangup: true}, wantErr: true, wantPeriod: true},
		{name: "delay only is a slow success", fault: Fault{Delay: 20 * time.Millisecond}, wantStatus: 200, wantPeriod: true},
		{name: "catch-all API", fault: Fault{API: "", Code: 1001003}, wantStatus: 400, wantCode: 1001003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			fault := tt.fault
			if fault.API == "" && tt.name != "catch-all API" {
				fault.API = APICreatePeriod
			}
			f.emu.Inject(fault)
			resp, err := f.client.Okr.V1.Period.Create(context.Background(), createReq(MonthlyRuleID, "2022-01"), f.tok())
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %d %s", resp.StatusCode, resp.RawBody)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.wantStatus || resp.Code != tt.wantCode {
					t.Fatalf("got %d code %d %s, want %d code %d", resp.StatusCode, resp.Code, resp.RawBody, tt.wantStatus, tt.wantCode)
				}
				if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.LogId() == "" {
					t.Fatalf("headers %v", resp.Header)
				}
				for k, v := range tt.wantHeader {
					if got := resp.Header.Get(k); got != v {
						t.Fatalf("%s = %q, want %q", k, got, v)
					}
				}
			}
			if got := len(f.emu.Periods()) == 1; got != tt.wantPeriod {
				t.Fatalf("period created = %v, want %v", got, tt.wantPeriod)
			}
			// The fault is consumed: the next request is answered normally.
			if resp, err := f.client.Okr.V1.Period.Create(context.Background(), createReq(MonthlyRuleID, "2022-02"), f.tok()); err != nil || !resp.Success() {
				t.Fatalf("after the fault: %v %+v", err, resp)
			}
			calls := f.emu.Calls()
			first := calls[1] // calls[0] is the fixture's token fetch
			if first.API != APICreatePeriod {
				t.Fatalf("call %+v", first)
			}
			if tt.wantErr && first.Status != 0 && tt.fault.Status != 504 {
				t.Fatalf("dropped call recorded status %d", first.Status)
			}
			if !tt.wantErr && (first.Status != tt.wantStatus || first.Code != tt.wantCode) {
				t.Fatalf("recorded %+v", first)
			}
		})
	}
}

func TestFaultTimesAndOrder(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.emu.Inject(Fault{API: APIListRules, Code: 1009998, Times: 2})
	f.emu.Inject(Fault{API: APIListRules, Status: 429})
	want := []int{1009998, 1009998, CodeRateLimited, 0}
	for i, w := range want {
		resp, err := f.client.Okr.V1.PeriodRule.List(ctx, f.tok())
		if err != nil || resp.Code != w {
			t.Fatalf("request %d: %v code %d, want %d", i, err, resp.Code, w)
		}
	}
	f.emu.Inject(Fault{API: APIListRules, Status: 503, Times: -1})
	for i := 0; i < 3; i++ {
		if resp, _ := f.client.Okr.V1.PeriodRule.List(ctx, f.tok()); resp.StatusCode != 503 {
			t.Fatalf("unlimited fault request %d: %d", i, resp.StatusCode)
		}
	}
	f.emu.ClearFaults()
	if resp, _ := f.client.Okr.V1.PeriodRule.List(ctx, f.tok()); !resp.Success() {
		t.Fatalf("after ClearFaults: %s", resp.RawBody)
	}
	// Faults apply to the token endpoint too.
	f.emu.Inject(Fault{API: APIToken, Status: 500})
	o := f.emu.Options()
	if a := f.fetchToken(t, o.AppID, o.AppSecret); a.Status != 500 {
		t.Fatalf("token fault: %+v", a)
	}
}

func TestFaultDelayHonoursCancellation(t *testing.T) {
	f := newFixture(t, Options{})
	f.emu.Inject(Fault{API: APICreatePeriod, Delay: 5 * time.Second, Status: 500})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.client.Okr.V1.Period.Create(ctx, createReq(MonthlyRuleID, "2022-01"), f.tok())
	if err == nil {
		t.Fatal("want a timeout error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the client waited %v", d)
	}
	// The handler notices the client went away: the call ends with status 0.
	waitFor(t, func() bool {
		c := f.emu.Calls()
		return len(c) == 2 && c[1].Duration > 0
	})
	if c := f.emu.Calls()[1]; c.Status != 0 || c.Duration > 2*time.Second {
		t.Fatalf("recorded %+v", c)
	}
	if len(f.emu.Periods()) != 0 {
		t.Fatal("a delayed, abandoned create must not happen")
	}
}

func TestAfterEffectDelay(t *testing.T) {
	// A create that succeeds but whose answer comes too late for the client.
	f := newFixture(t, Options{})
	f.emu.Inject(Fault{API: APICreatePeriod, Delay: 5 * time.Second, AfterEffect: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.client.Okr.V1.Period.Create(ctx, createReq(MonthlyRuleID, "2022-01"), f.tok()); err == nil {
		t.Fatal("want a timeout error")
	}
	if len(f.emu.Periods()) != 1 {
		t.Fatal("the create must have happened")
	}
}

func TestLatency(t *testing.T) {
	f := newFixture(t, Options{})
	f.emu.SetLatency(APIListRules, 60*time.Millisecond)
	start := time.Now()
	resp, err := f.client.Okr.V1.PeriodRule.List(context.Background(), f.tok())
	if err != nil || !resp.Success() {
		t.Fatal(err, resp)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	f.emu.SetLatency(APIListRules, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	f.emu.SetLatency("", time.Second)
	if _, err := f.client.Okr.V1.PeriodRule.List(ctx, f.tok()); err == nil {
		t.Fatal("catch-all latency not applied")
	}
}

func TestVersionAndWait(t *testing.T) {
	emu := New(Options{})
	v := emu.Version()
	done := make(chan uint64)
	go func() { done <- emu.Wait(context.Background(), v) }()
	select {
	case <-done:
		t.Fatal("Wait returned before a change")
	case <-time.After(20 * time.Millisecond):
	}
	emu.AddPeriod(Period{RuleID: MonthlyRuleID, StartMonth: "2022-01"})
	select {
	case got := <-done:
		if got <= v {
			t.Fatalf("Wait returned %d, not after %d", got, v)
		}
	case <-time.After(time.Second):
		t.Fatal("Wait not woken")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if got := emu.Wait(ctx, emu.Version()); got != emu.Version() {
		t.Fatalf("Wait on timeout returned %d", got)
	}
	if got := emu.Wait(context.Background(), 0); got == 0 {
		t.Fatal("Wait(0) must return at once")
	}
}

func TestConcurrentCreates(t *testing.T) {
	f := newFixture(t, Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := f.client.Okr.V1.Period.Create(context.Background(), createReq(QuarterlyRuleID, "2023-04"), f.tok())
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Success() {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if resp.Code != CodeOKRConflict {
				t.Errorf("code %d", resp.Code)
			}
			_ = f.emu.Calls()
			_ = f.emu.Periods()
		}()
	}
	wg.Wait()
	if ok != 1 || len(f.emu.Periods()) != 1 || f.emu.CallCount(APICreatePeriod) != 20 {
		t.Fatalf("ok=%d periods=%d calls=%d", ok, len(f.emu.Periods()), f.emu.CallCount(APICreatePeriod))
	}
}

func TestSDKSurfacesCodeErrorsWithoutError(t *testing.T) {
	// The SDK returns any JSON answer as resp; check the error body shape it
	// decodes (code, msg, error.log_id, troubleshooter).
	f := newFixture(t, Options{})
	resp, err := f.client.Okr.V1.Period.Create(context.Background(), createReq("nope", "2022-01"), f.tok())
	if err != nil {
		t.Fatal(err)
	}
	var ce larkcore.CodeError
	if err := json.Unmarshal(resp.RawBody, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Code != CodeOKRNotFound || ce.Msg != "OKR data not found." || ce.Err == nil || ce.Err.LogID != resp.LogId() || ce.Err.Troubleshooter == "" {
		t.Fatalf("error body %s", resp.RawBody)
	}
}

// waitFor polls cond briefly; for state changed by server goroutines the
// test cannot synchronise with otherwise.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSDKTokenManager(t *testing.T) {
	// With its own token cache the SDK fetches the token itself and must be
	// able to read the top-level tenant_access_token/expire. The SDK cache
	// is process-global and keyed by app id, so the app id is fresh on every
	// run (-count=N would otherwise find the previous run's token).
	appID := freshAppID()
	emu := New(Options{AppID: appID, AppSecret: "s"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	client := lark.NewClient(appID, "s", lark.WithOpenBaseUrl(srv.URL), lark.WithLogLevel(larkcore.LogLevelError))
	for i := 0; i < 2; i++ {
		resp, err := client.Okr.V1.PeriodRule.List(context.Background())
		if err != nil || !resp.Success() {
			t.Fatalf("%v %+v", err, resp)
		}
	}
	if n := emu.TokenFetches(); n != 1 {
		t.Fatalf("TokenFetches = %d, want 1 (cached by the SDK)", n)
	}
}
