package feishuemu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkevent "github.com/larksuite/oapi-sdk-go/v3/event"

	"okrbot/internal/testkit/fakeclock"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2024, 6, 12, 15, 30, 0, 0, time.UTC))
}

// freshAppID returns an app id no other test (or earlier run under
// -count=N) has used. The SDK keeps process-wide state per app id (its
// tenant token cache), so every test that builds an SDK client with its
// own cache or a long-connection client takes a fresh one.
func freshAppID() string { return "cli_" + randHex(8) }

// fixture is an emulator served over real HTTP with an SDK client and a
// valid tenant token.
type fixture struct {
	emu    *Emulator
	srv    *httptest.Server
	client *lark.Client
	token  string
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	emu := New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	o := emu.Options()
	f := &fixture{
		emu: emu,
		srv: srv,
		client: lark.NewClient(o.AppID, o.AppSecret,
			lark.WithOpenBaseUrl(srv.URL),
			lark.WithEnableTokenCache(false),
			lark.WithLogLevel(larkcore.LogLevelError)),
	}
	f.token = f.fetchToken(t, o.AppID, o.AppSecret).Token
	return f
}

func (f *fixture) tok() larkcore.RequestOptionFunc { return larkcore.WithTenantAccessToken(f.token) }

type tokenAnswer struct {
	Status int
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
	Token  string `json:"tenant_access_token"`
	Expire int    `json:"expire"`
}

func (f *fixture) fetchToken(t *testing.T, appID, secret string) tokenAnswer {
	t.Helper()
	status, _, raw := f.raw(t, http.MethodPost, "/open-apis/auth/v3/tenant_access_token/internal", "",
		[]byte(`{"app_id":"`+appID+`","app_secret":"`+secret+`"}`))
	var a tokenAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("token answer %q: %v", raw, err)
	}
	a.Status = status
	return a
}

// raw sends a request with an optional bearer token and returns status,
// headers and body.
func (f *fixture) raw(t *testing.T, method, path, token string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// api sends a JSON request with the fixture's token and decodes the answer.
func (f *fixture) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	status, _, raw := f.raw(t, method, path, f.token, b)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s answered %d %q: %v", method, path, status, raw, err)
	}
	return status, m
}

func code(m map[string]any) int {
	c, _ := m["code"].(float64)
	return int(c)
}

func data(m map[string]any) map[string]any {
	d, _ := m["data"].(map[string]any)
	return d
}

// received is one request a test receiver got.
type received struct {
	Header http.Header
	Raw    []byte
	Plain  []byte
}

// receiver is a bot endpoint that checks signatures with the SDK's
// larkevent.Signature and decrypts with larkevent.EventDecrypt, then answers
// with handle (default 200 {"msg":"success"}).
type receiver struct {
	t          *testing.T
	encryptKey string
	handle     func(plain []byte) (int, []byte)

	mu  sync.Mutex
	got []received
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	plain := raw
	if rc.encryptKey != "" {
		want := larkevent.Signature(r.Header.Get("X-Lark-Request-Timestamp"), r.Header.Get("X-Lark-Request-Nonce"), rc.encryptKey, string(raw))
		if r.Header.Get("X-Lark-Signature") != want {
			rc.t.Errorf("signature %q, want %q", r.Header.Get("X-Lark-Signature"), want)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var enc struct {
			Encrypt string `json:"encrypt"`
		}
		if err := json.Unmarshal(raw, &enc); err != nil || enc.Encrypt == "" {
			rc.t.Errorf("body %q is not {\"encrypt\":...}", raw)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var err error
		if plain, err = larkevent.EventDecrypt(enc.Encrypt, rc.encryptKey); err != nil {
			rc.t.Errorf("EventDecrypt: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{Header: r.Header.Clone(), Raw: raw, Plain: plain})
	rc.mu.Unlock()
	status, body := http.StatusOK, []byte(`{"msg":"success"}`)
	if rc.handle != nil {
		status, body = rc.handle(plain)
	}
	// Like the SDK: headers after WriteHeader, so Go sniffs text/plain.
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func newReceiver(t *testing.T, key string, handle func([]byte) (int, []byte)) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, encryptKey: key, handle: handle}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return m
}

// dig walks a decoded JSON value by keys.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func testCard(elements ...any) map[string]any {
	return map[string]any{
		"schema": "2.0",
		"config": map[string]any{"update_multi": true},
		"header": map[string]any{"title": map[string]any{"tag": "plain_text", "content": "Title",
			"i18n_content": map[string]any{"zh_cn": "标题", "en_us": "Title"}}},
		"body": map[string]any{"elements": elements},
	}
}

func markdown(s string) map[string]any { return map[string]any{"tag": "markdown", "content": s} }

func button(text string, value map[string]any) map[string]any {
	return map[string]any{
		"tag":       "button",
		"text":      map[string]any{"tag": "plain_text", "content": text, "i18n_content": map[string]any{"zh_cn": "中" + text, "en_us": text}},
		"behaviors": []any{map[string]any{"type": "callback", "value": value}},
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
