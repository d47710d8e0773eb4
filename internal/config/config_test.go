package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv func backed by a map.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// creds is the environment with the three required credentials.
func creds() map[string]string {
	return map[string]string{
		"FEISHU_APP_ID":             "cli_a1b2c3d4e5f6",
		"FEISHU_APP_SECRET":         "s3cr3t-app-secret",
		"FEISHU_VERIFICATION_TOKEN": "v3rif-token",
	}
}

// with returns m plus the pairs kv (later wins), leaving m alone.
func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// writeFile writes content to a fresh config file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validBase is Default() with the credentials of creds().
func validBase() Config {
	c := Default()
	c.Feishu.AppID = "cli_a1b2c3d4e5f6"
	c.Feishu.AppSecret = "s3cr3t-app-secret"
	c.Feishu.VerificationToken = "v3rif-token"
	return c
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.addr", c.Server.Addr, "127.0.0.1:8080"},
		{"server.event_path", c.Server.EventPath, "/webhook/event"},
		{"server.card_path", c.Server.CardPath, "/webhook/card"},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 20 * time.Second},
		{"server.metrics_addr", c.Server.MetricsAddr, ""},
		{"feishu.app_id", c.Feishu.AppID, ""},
		{"feishu.app_secret", c.Feishu.AppSecret, ""},
		{"feishu.verification_token", c.Feishu.VerificationToken, ""},
		{"feishu.encrypt_key", c.Feishu.EncryptKey, ""},
		{"feishu.mode", c.Feishu.Mode, "webhook"},
		{"feishu.base_url", c.Feishu.BaseURL, "https://open.feishu.cn"},
		{"okr.timezone", c.OKR.Timezone, "Asia/Shanghai"},
		{"okr.Location", c.OKR.Location.String(), "Asia/Shanghai"},
		{"okr.default_period_rule_id", c.OKR.DefaultPeriodRuleID, ""},
		{"access.operators", len(c.Access.Operators), 0},
		{"access.chats", len(c.Access.Chats), 0},
		{"bot.max_message_age", c.Bot.MaxMessageAge, 10 * time.Minute},
		{"store.backend", c.Store.Backend, "memory"},
		{"store.redis_url", c.Store.RedisURL, ""},
		{"audit.path", c.Audit.Path, ""},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Defaults plus the credentials are a valid configuration.
	if err := validBase().Validate(); err != nil {
		t.Errorf("Validate(defaults+creds) = %v", err)
	}
}

func TestKeys(t *testing.T) {
	// docs/contract.md §2, row by row.
	want := []Key{
		{"server.addr", "OKRBOT_ADDR", "127.0.0.1:8080", ""},
		{"server.event_path", "", "/webhook/event", ""},
		{"server.card_path", "", "/webhook/card", ""},
		{"server.shutdown_timeout", "", "20s", ""},
		{"server.metrics_addr", "OKRBOT_METRICS_ADDR", "", ""},
		{"feishu.app_id", "FEISHU_APP_ID", "", "always"},
		{"feishu.app_secret", "FEISHU_APP_SECRET", "", "always"},
		{"feishu.verification_token", "FEISHU_VERIFICATION_TOKEN", "", "webhook"},
		{"feishu.encrypt_key", "FEISHU_ENCRYPT_KEY", "", ""},
		{"feishu.mode", "FEISHU_MODE", "webhook", ""},
		{"feishu.base_url", "FEISHU_BASE_URL", "https://open.feishu.cn", ""},
		{"okr.timezone", "OKRBOT_TIMEZONE", "Asia/Shanghai", ""},
		{"okr.default_period_rule_id", "OKRBOT_DEFAULT_PERIOD_RULE_ID", "", ""},
		{"access.operators", "OKRBOT_OPERATORS", "", ""},
		{"access.chats", "OKRBOT_CHATS", "", ""},
		{"bot.max_message_age", "OKRBOT_MAX_MESSAGE_AGE", "10m", ""},
		{"store.backend", "OKRBOT_STORE_BACKEND", "memory", ""},
		{"store.redis_url", "OKRBOT_REDIS_URL", "", ""},
		{"audit.path", "OKRBOT_AUDIT_PATH", "", ""},
	}
	if got := Keys(); !reflect.DeepEqual(got, want) {
		t.Errorf("Keys() = %v\nwant %v", got, want)
	}
	// Every default of the table loads: Default() applies them all.
	d := Default()
	for _, f := range fields() {
		var c Config
		if err := f.set(&c, f.def); err != nil {
			t.Errorf("%s: default %q does not parse: %v", f.key(), f.def, err)
			continue
		}
		if got, want := reflect.ValueOf(f.ptr(&c)).Elem().Interface(), reflect.ValueOf(f.ptr(&d)).Elem().Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Default() has %v, the table says %v", f.key(), want, got)
		}
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second: "20s", 10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(durationText(d)); err != nil || back != d {
			t.Errorf("durationText(%v) = %q does not parse back: %v, %v", d, durationText(d), back, err)
		}
	}
}

func TestLoadEnvOnly(t *testing.T) {
	c, err := Load("", env(creds()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := validBase(); !reflect.DeepEqual(c, want) {
		t.Errorf("Load = %+v\nwant %+v", c, want)
	}
}

const fullFile = `
[server]
addr = "0.0.0.0:9090"
event_path = "/lark/event"
card_path = "/lark/card"
shutdown_timeout = "45s"
metrics_addr = "127.0.0.1:9100"

[feishu]
app_id = "cli_file"
app_secret = "file-secret"
verification_token = "file-token"
encrypt_key = "file-encrypt-key"
mode = "WebSocket"
base_url = "https://open.larksuite.com/"

[okr]
timezone = "Europe/Berlin"
default_period_rule_id = "rule_file"

[access]
operators = ["ou_1", " ou_2 ", "", "ou_1"]
chats = ["oc_1"]

[bot]
max_message_age = "1h30m"

[store]
backend = "redis"
redis_url = "redis://:pw@redis.internal:6379/2"

[audit]
path = "/var/log/okrbot/audit.jsonl"
`

func fullConfig() Config {
	var c Config
	c.Server.Addr = "0.0.0.0:9090"
	c.Server.EventPath = "/lark/event"
	c.Server.CardPath = "/lark/card"
	c.Server.ShutdownTimeout = 45 * time.Second
	c.Server.MetricsAddr = "127.0.0.1:9100"
	c.Feishu.AppID = "cli_file"
	c.Feishu.AppSecret = "file-secret"
	c.Feishu.VerificationToken = "file-token"
	c.Feishu.EncryptKey = "file-encrypt-key"
	c.Feishu.Mode = "websocket"
	c.Feishu.BaseURL = "https://open.larksuite.com"
	c.OKR.Timezone = "Europe/Berlin"
	c.OKR.Location = mustLoc("Europe/Berlin")
	c.OKR.DefaultPeriodRuleID = "rule_file"
	c.Access.Operators = []string{"ou_1", "ou_2"}
	c.Access.Chats = []string{"oc_1"}
	c.Bot.MaxMessageAge = 90 * time.Minute
	c.Store.Backend = "redis"
	c.Store.RedisURL = "redis://:pw@redis.internal:6379/2"
	c.Audit.Path = "/var/log/okrbot/audit.jsonl"
	return c
}

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func TestLoadFullFile(t *testing.T) {
	p := writeFile(t, fullFile)
	for _, tc := range []struct {
		name   string
		getenv func(string) (string, bool)
	}{
		{"nil getenv", nil},
		{"empty env", env(nil)},
		{"empty and blank vars are ignored", env(map[string]string{
			"OKRBOT_ADDR": "", "FEISHU_APP_SECRET": "  ", "OKRBOT_MAX_MESSAGE_AGE": "", "OKRBOT_OPERATORS": "",
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(p, tc.getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := fullConfig(); !reflect.DeepEqual(c, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
			}
		})
	}
}

func TestEnvOverridesEveryVariable(t *testing.T) {
	p := writeFile(t, fullFile)
	vars := map[string]string{
		"OKRBOT_ADDR":                   " :8443 ",
		"OKRBOT_METRICS_ADDR":           "0.0.0.0:9464",
		"FEISHU_MODE":                   " webhook ",
		"OKRBOT_TIMEZONE":               " America/New_York ",
		"FEISHU_APP_ID":                 "cli_env",
		"FEISHU_APP_SECRET":             "env-secret",
		"FEISHU_VERIFICATION_TOKEN":     "env-token",
		"FEISHU_ENCRYPT_KEY":            "env-encrypt-key",
		"FEISHU_BASE_URL":               "http://127.0.0.1:9999//",
		"OKRBOT_DEFAULT_PERIOD_RULE_ID": "rule_env",
		"OKRBOT_OPERATORS":              " ou_a, ou_b ,,ou_c , ou_a",
		"OKRBOT_CHATS":                  "oc_x,oc_y",
		"OKRBOT_MAX_MESSAGE_AGE":        "2m30s",
		"OKRBOT_STORE_BACKEND":          "Memory",
		"OKRBOT_REDIS_URL":              "rediss://user:pw@cache:6380/1",
		"OKRBOT_AUDIT_PATH":             "audit.jsonl",
	}
	// The test must cover every variable of the contract.
	for _, k := range Keys() {
		if _, ok := vars[k.Env]; k.Env != "" && !ok {
			t.Fatalf("test misses %s (%s)", k.Env, k.Name)
		}
	}
	c, err := Load(p, env(vars))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := fullConfig()
	want.Server.Addr = ":8443"
	want.Server.MetricsAddr = "0.0.0.0:9464"
	want.Feishu.Mode = "webhook"
	want.OKR.Timezone = "America/New_York"
	want.OKR.Location = mustLoc("America/New_York")
	want.Feishu.AppID = "cli_env"
	want.Feishu.AppSecret = "env-secret"
	want.Feishu.VerificationToken = "env-token"
	want.Feishu.EncryptKey = "env-encrypt-key"
	want.Feishu.BaseURL = "http://127.0.0.1:9999"
	want.OKR.DefaultPeriodRuleID = "rule_env"
	want.Access.Operators = []string{"ou_a", "ou_b", "ou_c"}
	want.Access.Chats = []string{"oc_x", "oc_y"}
	want.Bot.MaxMessageAge = 150 * time.Second
	want.Store.Backend = "memory"
	want.Store.RedisURL = "rediss://user:pw@cache:6380/1"
	want.Audit.Path = "audit.jsonl"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestEnvListEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want []string
	}{
		{"ou_1", []string{"ou_1"}},
		{"ou_1,ou_2", []string{"ou_1", "ou_2"}},
		{"  ou_1 ,  ou_2  ", []string{"ou_1", "ou_2"}},
		{",ou_1,,", []string{"ou_1"}},
		{" , , ", nil},
	} {
		t.Run(tc.val, func(t *testing.T) {
			c, err := Load("", env(with(creds(), "OKRBOT_OPERATORS", tc.val, "OKRBOT_CHATS", tc.val)))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(c.Access.Operators, tc.want) || !reflect.DeepEqual(c.Access.Chats, tc.want) {
				t.Errorf("operators %q, chats %q, want %q", c.Access.Operators, c.Access.Chats, tc.want)
			}
		})
	}
}

// loadErr loads file content (if not "") with env and returns the error text.
func loadErr(t *testing.T, content string, vars map[string]string) (string, error) {
	t.Helper()
	p := ""
	if content != "" {
		p = writeFile(t, content)
	}
	_, err := Load(p, env(vars))
	if err == nil {
		t.Fatalf("Load succeeded, want an error\nfile:\n%s", content)
	}
	return err.Error(), err
}

// wantAll fails unless msg contains every one of subs.
func wantAll(t *testing.T, msg string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q\ndoes not contain %q", msg, s)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"top level", "adr = \"x\"\n", []string{`config: adr: unknown key in `, `did you mean "server.addr"`}},
		{"top level, right name", "addr = \"x\"\n", []string{`config: addr: unknown key`, `did you mean "server.addr"`}},
		{"nested", "[server]\nadr = \"x\"\n", []string{`config: server.adr: unknown key`, `did you mean "server.addr"`}},
		{"nested dotted", "server.adr = \"x\"\n", []string{`config: server.adr: unknown key`}},
		{"nested inline", "server = { adr = \"x\" }\n", []string{`config: server.adr: unknown key`}},
		{"unknown table", "[telemetry]\nendpoint = \"x\"\n", []string{`config: telemetry: unknown key`}},
		{"sub-table", "[server.tls]\ncert = \"x\"\n", []string{`config: server.tls: unknown key`}},
		{"wrong case table", "[Server]\naddr = \"x\"\n", []string{`config: Server: unknown key`, `did you mean "server"`}},
		{"wrong case key", "[feishu]\nApp_ID = \"cli_x\"\n", []string{`config: feishu.App_ID: unknown key`, `did you mean "feishu.app_id"`}},
		{"right key, wrong table", "[server]\napp_secret = \"x\"\n", []string{`config: server.app_secret: unknown key`, `did you mean "feishu.app_secret"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := loadErr(t, tc.file, creds())
			wantAll(t, msg, tc.want...)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("error %v is not a *KeyError", err)
			}
			if strings.Contains(msg, "is required") {
				t.Errorf("file errors should not be mixed with validation: %q", msg)
			}
		})
	}
}

func TestUnknownKeysAllReported(t *testing.T) {
	file := "foo = 1\n[server]\nadr = \"x\"\nshutdown_timeout = 20\n[bot]\nmax_message_age = \"ten minutes\"\n[nope]\nx = 1\n"
	msg, _ := loadErr(t, file, creds())
	lines := strings.Split(msg, "\n")
	if len(lines) != 5 {
		t.Fatalf("want 5 problems, one a line, got %d:\n%s", len(lines), msg)
	}
	for i, key := range []string{"foo", "server.adr", "server.shutdown_timeout", "bot.max_message_age", "nope"} {
		if !strings.HasPrefix(lines[i], "config: "+key+": ") {
			t.Errorf("line %d = %q, want it about %s (file order)", i+1, lines[i], key)
		}
	}
}

func TestMalformedValues(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       []string
	}{
		{"duration in file", "[bot]\nmax_message_age = \"ten minutes\"\n", nil,
			[]string{`config: bot.max_message_age: invalid duration "ten minutes"`}},
		{"duration without unit in file", "[server]\nshutdown_timeout = \"20\"\n", nil,
			[]string{`config: server.shutdown_timeout: invalid duration "20"`}},
		{"duration as integer", "[server]\nshutdown_timeout = 20\n", nil,
			[]string{`config: server.shutdown_timeout: must be a duration string`, "got an integer"}},
		{"duration in env", "", map[string]string{"OKRBOT_MAX_MESSAGE_AGE": "ten minutes"},
			[]string{`config: bot.max_message_age: invalid duration "ten minutes"`, "OKRBOT_MAX_MESSAGE_AGE"}},
		{"duration in env overrides good file", "[bot]\nmax_message_age = \"5m\"\n", map[string]string{"OKRBOT_MAX_MESSAGE_AGE": "5"},
			[]string{`config: bot.max_message_age: invalid duration "5"`, "OKRBOT_MAX_MESSAGE_AGE"}},
		{"negative duration", "[bot]\nmax_message_age = \"-1m\"\n", nil,
			[]string{`config: bot.max_message_age: must be > 0`}},
		{"zero duration in env", "", map[string]string{"OKRBOT_MAX_MESSAGE_AGE": "0s"},
			[]string{`config: bot.max_message_age: must be > 0`}},
		{"zero shutdown timeout", "[server]\nshutdown_timeout = \"0s\"\n", nil,
			[]string{`config: server.shutdown_timeout: must be > 0`}},
		{"string as integer", "[server]\naddr = 8080\n", nil,
			[]string{`config: server.addr: must be a string`, "got an integer"}},
		{"string as boolean", "[feishu]\nencrypt_key = true\n", nil,
			[]string{`config: feishu.encrypt_key: must be a string`, "got a boolean"}},
		{"string as array", "[store]\nbackend = [\"redis\"]\n", nil,
			[]string{`config: store.backend: must be a string`, "got an array"}},
		{"list as string", "[access]\noperators = \"ou_1\"\n", nil,
			[]string{`config: access.operators: must be an array of strings`, "got a string", `operators = ["ou_1"]`}},
		{"list as comma string", "[access]\nchats = \"oc_1,oc_2\"\n", nil,
			[]string{`config: access.chats: must be an array of strings`, "got a string"}},
		{"list of integers", "[access]\nchats = [1, 2]\n", nil,
			[]string{`config: access.chats: must be an array of strings`, "item 1 is an integer"}},
		{"list with mixed items", "[access]\noperators = [\"ou_1\", 2]\n", nil,
			[]string{`config: access.operators: must be an array of strings`, "item 2 is an integer"}},
		{"table as string", "server = \"x\"\n", nil,
			[]string{`config: server: must be a table`, "got a string"}},
		{"table as array of tables", "[[server]]\naddr = \"x\"\n", nil,
			[]string{`config: server: must be a table`, "got an array of tables"}},
		{"key as table", "[feishu.app_id]\nx = 1\n", nil,
			[]string{`config: feishu.app_id: must be a string`, "got a table"}},
		{"bad listen address", "[server]\naddr = \"localhost\"\n", nil,
			[]string{`config: server.addr: invalid listen address "localhost"`}},
		{"bad listen port", "", map[string]string{"OKRBOT_ADDR": "localhost:http"},
			[]string{`config: server.addr: invalid port`}},
		{"bad app id", "", map[string]string{"FEISHU_APP_ID": "a1b2c3"},
			[]string{`config: feishu.app_id: "a1b2c3" is not a Feishu app id`}},
		{"bare app id prefix", "", map[string]string{"FEISHU_APP_ID": "cli_"},
			[]string{`config: feishu.app_id: "cli_" is not a Feishu app id`}},
		{"unknown backend", "", map[string]string{"OKRBOT_STORE_BACKEND": "etcd"},
			[]string{`config: store.backend: "etcd" is not a store backend`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := creds()
			for k, v := range tc.env {
				vars[k] = v
			}
			msg, err := loadErr(t, tc.file, vars)
			wantAll(t, msg, tc.want...)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("error %v is not a *KeyError", err)
			}
		})
	}
}

func TestDurationErrorWrapsCause(t *testing.T) {
	_, err := loadErr(t, "[bot]\nmax_message_age = \"ten minutes\"\n", creds())
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "bot.max_message_age" || ke.Err == nil {
		t.Fatalf("want a *KeyError for bot.max_message_age wrapping the parse error, got %#v", err)
	}
	if !strings.HasPrefix(err.Error(), `config: bot.max_message_age: invalid duration "ten minutes"`) {
		t.Errorf("message = %q", err)
	}
}

func TestSyntaxError(t *testing.T) {
	p := writeFile(t, "[server\naddr = \"x\"\n")
	_, err := Load(p, env(creds()))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Fatalf("Load = %v, want a syntax error naming %s", err, p)
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(p, env(creds()))
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("Load = %v, want an error naming %s", err, p)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestMissingRequired(t *testing.T) {
	for _, tc := range []struct{ key, env string }{
		{"feishu.app_id", "FEISHU_APP_ID"},
		{"feishu.app_secret", "FEISHU_APP_SECRET"},
		{"feishu.verification_token", "FEISHU_VERIFICATION_TOKEN"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			vars := creds()
			delete(vars, tc.env)
			msg, err := loadErr(t, "", vars)
			want := fmt.Sprintf("config: %s is required (set %s)", tc.key, tc.env)
			if msg != want {
				t.Errorf("error = %q, want %q", msg, want)
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != tc.key || ke.Env != tc.env {
				t.Errorf("error %#v: want *KeyError{Key: %q, Env: %q}", err, tc.key, tc.env)
			}
			// Set but empty is still missing.
			msg, _ = loadErr(t, "", with(vars, tc.env, ""))
			if msg != want {
				t.Errorf("with empty %s: error = %q, want %q", tc.env, msg, want)
			}
		})
	}
}

func TestStoreRedis(t *testing.T) {
	for _, tc := range []struct {
		name, backend, url string
		want               string // "" = valid
	}{
		{"memory without url", "memory", "", ""},
		{"redis without url", "redis", "", `config: store.redis_url: is required when store.backend is "redis" (set OKRBOT_REDIS_URL`},
		{"redis", "redis", "redis://127.0.0.1:6379/0", ""},
		{"redis no db", "redis", "redis://127.0.0.1:6379", ""},
		{"redis no port", "redis", "redis://cache", ""},
		{"redis with password", "redis", "redis://:p%40ss@cache:6379/0", ""},
		{"redis with user", "redis", "redis://bot:pw@cache:6379/3", ""},
		{"rediss", "redis", "rediss://cache.example.com:6380/0", ""},
		{"upper-case backend", "REDIS", "redis://cache:6379", ""},
		{"http scheme", "redis", "http://cache:6379", `config: store.redis_url: scheme must be redis or rediss`},
		{"no scheme", "redis", "127.0.0.1:6379", `config: store.redis_url:`},
		{"no host", "redis", "redis:///0", `config: store.redis_url: has no host`},
		{"bad db", "redis", "redis://cache:6379/zero", `config: store.redis_url: database "zero" is not a number`},
		{"bad port", "redis", "redis://cache:99999/0", `config: store.redis_url: invalid port`},
		{"garbage", "redis", "redis://:secret@ho st:6379", `config: store.redis_url: not a valid URL`},
		{"bad url with memory", "memory", "ftp://x", `config: store.redis_url: scheme must be redis or rediss`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := with(creds(), "OKRBOT_STORE_BACKEND", tc.backend)
			if tc.url != "" {
				vars["OKRBOT_REDIS_URL"] = tc.url
			}
			_, err := Load("", env(vars))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Load succeeded, want %q", tc.want)
			case tc.want != "":
				wantAll(t, err.Error(), tc.want)
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q leaks the password", err)
				}
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url, want, err string
	}{
		{"https://open.feishu.cn", "https://open.feishu.cn", ""},
		{"https://open.larksuite.com/", "https://open.larksuite.com", ""},
		{"http://127.0.0.1:8081///", "http://127.0.0.1:8081", ""},
		{"http://emulator:8081/prefix/", "http://emulator:8081/prefix", ""},
		{"open.feishu.cn", "", `config: feishu.base_url: "open.feishu.cn" must be an absolute http:// or https:// URL`},
		{"/open-apis", "", `must be an absolute http:// or https:// URL`},
		{"ftp://open.feishu.cn", "", `must be an absolute http:// or https:// URL`},
		{"https://", "", `config: feishu.base_url: "https://" has no host`},
		{"https://:443", "", `has no host`},
		{"https://open.feishu.cn?x=1", "", `must not have a query or fragment`},
		{"https://open.feishu.cn#top", "", `must not have a query or fragment`},
		{"https://u:p@open.feishu.cn", "", `must not contain user information`},
		{"https://open feishu.cn", "", `config: feishu.base_url: "https://open feishu.cn" is not a valid URL`},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := Load("", env(with(creds(), "FEISHU_BASE_URL", tc.url)))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Feishu.BaseURL != tc.want {
					t.Errorf("BaseURL = %q, want %q", c.Feishu.BaseURL, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.err)
			}
			wantAll(t, err.Error(), tc.err)
		})
	}
	// Validate itself (without Load's normalisation) rejects a trailing slash.
	c := validBase()
	c.Feishu.BaseURL = "https://open.feishu.cn/"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "feishu.base_url") {
		t.Errorf("Validate = %v, want a feishu.base_url error", err)
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name, event, card, want string
	}{
		{"defaults", "/webhook/event", "/webhook/card", ""},
		{"custom", "/feishu/events", "/feishu/cards", ""},
		{"same path", "/webhook", "/webhook", `config: server.card_path: "/webhook" is also server.event_path`},
		{"event healthz", "/healthz", "/webhook/card", `config: server.event_path: "/healthz" is reserved`},
		{"card readyz", "/webhook/event", "/readyz", `config: server.card_path: "/readyz" is reserved`},
		{"card metrics", "/webhook/event", "/metrics", `config: server.card_path: "/metrics" is reserved`},
		{"no slash", "webhook/event", "/webhook/card", `config: server.event_path: "webhook/event" must start with "/"`},
		{"empty", "", "/webhook/card", `config: server.event_path: must not be empty`},
		{"root", "/", "/webhook/card", `config: server.event_path: must not be "/"`},
		{"trailing slash", "/webhook/event/", "/webhook/card", `config: server.event_path: "/webhook/event/" is not a clean path`},
		{"dot segments", "/webhook/../healthz", "/webhook/card", `config: server.event_path: "/webhook/../healthz" is not a clean path`},
		{"query", "/webhook/event?x=1", "/webhook/card", `config: server.event_path: "/webhook/event?x=1" must be a plain URL path`},
		{"space", "/webhook/card", "/web hook", `config: server.card_path: "/web hook" must be a plain URL path`},
		{"wildcard", "/webhook/{id}", "/webhook/card", `must be a plain URL path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := fmt.Sprintf("[server]\nevent_path = %q\ncard_path = %q\n", tc.event, tc.card)
			c, err := Load(writeFile(t, file), env(creds()))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Server.EventPath != tc.event || c.Server.CardPath != tc.card {
					t.Errorf("paths = %q, %q", c.Server.EventPath, c.Server.CardPath)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.want)
			}
			wantAll(t, err.Error(), tc.want)
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	var c Config // nothing set at all
	c.Store.Backend = "redis"
	c.Server.EventPath = "/metrics"
	c.Server.CardPath = "/metrics"
	c.Server.MetricsAddr = "127.0.0.1:9100" // valid: not reported
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate(zero) = nil")
	}
	lines := strings.Split(err.Error(), "\n")
	wantKeys := []string{
		"server.addr", "server.event_path", "server.card_path", "server.shutdown_timeout",
		"feishu.app_id", "feishu.app_secret", "feishu.verification_token", "feishu.mode", "feishu.base_url",
		"okr.timezone", "bot.max_message_age", "store.redis_url",
	}
	if len(lines) != len(wantKeys) {
		t.Errorf("got %d problems, want %d:\n%s", len(lines), len(wantKeys), err)
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "config: ") {
			t.Errorf("line %q does not start with \"config: \"", line)
		}
		if i < len(wantKeys) && !strings.HasPrefix(line, "config: "+wantKeys[i]) {
			t.Errorf("line %d = %q, want it about %s", i+1, line, wantKeys[i])
		}
	}
	// Each problem is a *KeyError reachable with errors.As through the join.
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate error %T does not unwrap to a list", err)
	}
	for _, e := range joined.Unwrap() {
		var ke *KeyError
		if !errors.As(e, &ke) || ke.Key == "" {
			t.Errorf("%v is not a *KeyError with a key", e)
		}
	}
	// Load reports them all at once as well.
	_, lerr := Load(writeFile(t, "[bot]\nmax_message_age = \"-5m\"\n"), env(nil))
	if lerr == nil {
		t.Fatal("Load succeeded")
	}
	for _, key := range []string{"feishu.app_id", "feishu.app_secret", "feishu.verification_token", "bot.max_message_age"} {
		wantAll(t, lerr.Error(), "config: "+key)
	}
}

func TestRedacted(t *testing.T) {
	secrets := []string{"APPSECRETVALUE", "VERIFTOKENVALUE", "ENCRYPTKEYVALUE", "REDISPASSWORD"}
	for _, tc := range []struct {
		name, redisURL, wantURL string
	}{
		{"password only", "redis://:REDISPASSWORD@cache:6379/0", "redis://:***@cache:6379/0"},
		{"user and password", "rediss://bot:REDISPASSWORD@cache:6380/1", "rediss://bot:***@cache:6380/1"},
		{"lone user info", "redis://REDISPASSWORD@cache:6379", "redis://***@cache:6379"},
		{"password query", "redis://cache:6379/0?password=REDISPASSWORD", "redis://cache:6379/0?password=***"},
		{"escaped password", "redis://:REDIS%50ASSWORD@cache:6379", "redis://:***@cache:6379"},
		{"no password", "redis://cache:6379/0", "redis://cache:6379/0"},
		{"unparseable", "redis://:REDISPASSWORD@ca che", "***"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validBase()
			c.Feishu.AppSecret = "APPSECRETVALUE"
			c.Feishu.VerificationToken = "VERIFTOKENVALUE"
			c.Feishu.EncryptKey = "ENCRYPTKEYVALUE"
			c.Store.RedisURL = tc.redisURL
			c.Access.Operators = []string{"ou_1"}
			orig := fmt.Sprintf("%+v", c)

			r := c.Redacted()
			out := fmt.Sprintf("%+v", r)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("redacted config shows %q: %s", s, out)
				}
			}
			if r.Feishu.AppSecret != "***" || r.Feishu.VerificationToken != "***" || r.Feishu.EncryptKey != "***" {
				t.Errorf("secrets not replaced with ***: %+v", r.Feishu)
			}
			if r.Store.RedisURL != tc.wantURL {
				t.Errorf("RedisURL = %q, want %q", r.Store.RedisURL, tc.wantURL)
			}
			// Everything else is kept, and the original is untouched.
			if r.Feishu.AppID != c.Feishu.AppID || r.Server != c.Server || r.Feishu.BaseURL != c.Feishu.BaseURL {
				t.Errorf("Redacted changed non-secret fields: %+v", r)
			}
			r.Access.Operators[0] = "changed"
			if got := fmt.Sprintf("%+v", c); got != orig {
				t.Errorf("Redacted changed the original:\n%s\nwas\n%s", got, orig)
			}
		})
	}
	// Unset secrets stay empty, so a log shows that they are missing.
	r := Default().Redacted()
	if r.Feishu.AppSecret != "" || r.Feishu.VerificationToken != "" || r.Feishu.EncryptKey != "" || r.Store.RedisURL != "" {
		t.Errorf("Redacted(Default()) = %+v, want unset secrets left empty", r.Feishu)
	}
}

func TestFindDefault(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if got := FindDefault(); got != "" {
		t.Errorf("FindDefault() without file = %q, want \"\"", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[bot]\nmax_message_age = \"3m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := FindDefault()
	if got != "config.toml" {
		t.Fatalf("FindDefault() = %q, want \"config.toml\"", got)
	}
	c, err := Load(got, env(creds()))
	if err != nil || c.Bot.MaxMessageAge != 3*time.Minute {
		t.Errorf("Load(FindDefault()) = %v, %v", c.Bot.MaxMessageAge, err)
	}
}

const examplePath = "../../config.example.toml"

func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath, env(creds()))
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if want := validBase(); !reflect.DeepEqual(c, want) {
		t.Errorf("the example should show the defaults:\n got %+v\nwant %+v", c, want)
	}
	// Without the credentials it fails naming them.
	_, err = Load(examplePath, env(nil))
	if err == nil {
		t.Fatal("example loads without credentials")
	}
	wantAll(t, err.Error(), "FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN")
}

func TestMode(t *testing.T) {
	noToken := creds()
	delete(noToken, "FEISHU_VERIFICATION_TOKEN")
	for _, tc := range []struct {
		name, file string
		vars       map[string]string
		want       string // mode, or the error
		wantErr    bool
	}{
		{"default", "", creds(), ModeWebhook, false},
		{"webhook in env", "", with(creds(), "FEISHU_MODE", "webhook"), ModeWebhook, false},
		{"websocket in env", "", with(creds(), "FEISHU_MODE", "websocket"), ModeWebSocket, false},
		{"websocket in file", "[feishu]\nmode = \"websocket\"\n", creds(), ModeWebSocket, false},
		{"case and spaces", "", with(creds(), "FEISHU_MODE", " WebSocket "), ModeWebSocket, false},
		{"env overrides file", "[feishu]\nmode = \"websocket\"\n", with(creds(), "FEISHU_MODE", "webhook"), ModeWebhook, false},
		{"websocket needs no verification token", "", with(noToken, "FEISHU_MODE", "websocket"), ModeWebSocket, false},
		{"websocket with token and encrypt key", "", with(creds(), "FEISHU_MODE", "websocket", "FEISHU_ENCRYPT_KEY", "k"), ModeWebSocket, false},
		{"webhook needs the verification token", "", noToken,
			"config: feishu.verification_token is required (set FEISHU_VERIFICATION_TOKEN)", true},
		{"explicit webhook needs the verification token", "[feishu]\nmode = \"webhook\"\n", noToken,
			"config: feishu.verification_token is required (set FEISHU_VERIFICATION_TOKEN)", true},
		{"unknown in env", "", with(creds(), "FEISHU_MODE", "ws"),
			`config: feishu.mode: "ws" is not a mode (want "webhook" or "websocket")`, true},
		{"empty in file", "[feishu]\nmode = \"\"\n", creds(), `config: feishu.mode: "" is not a mode`, true},
		{"not a string", "[feishu]\nmode = 1\n", creds(), `config: feishu.mode: must be a string`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.file != "" {
				p = writeFile(t, tc.file)
			}
			c, err := Load(p, env(tc.vars))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Load succeeded (mode %q), want %q", c.Feishu.Mode, tc.want)
				}
				wantAll(t, err.Error(), tc.want)
				var ke *KeyError
				if !errors.As(err, &ke) {
					t.Errorf("error %v is not a *KeyError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Feishu.Mode != tc.want {
				t.Errorf("Mode = %q, want %q", c.Feishu.Mode, tc.want)
			}
		})
	}
	// The app id and secret stay required in websocket mode.
	_, err := Load("", env(map[string]string{"FEISHU_MODE": "websocket"}))
	if err == nil {
		t.Fatal("websocket mode without credentials loads")
	}
	wantAll(t, err.Error(), "feishu.app_id is required", "feishu.app_secret is required")
	if strings.Contains(err.Error(), "verification_token") {
		t.Errorf("websocket mode requires the verification token: %v", err)
	}
}

func TestTimezone(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		vars       map[string]string
		want       string // zone name, or the error
		wantErr    bool
	}{
		{"default", "", creds(), "Asia/Shanghai", false},
		{"env", "", with(creds(), "OKRBOT_TIMEZONE", "Europe/Berlin"), "Europe/Berlin", false},
		{"file", "[okr]\ntimezone = \"America/Los_Angeles\"\n", creds(), "America/Los_Angeles", false},
		{"env overrides file", "[okr]\ntimezone = \"UTC\"\n", with(creds(), "OKRBOT_TIMEZONE", " Asia/Tokyo "), "Asia/Tokyo", false},
		{"UTC", "", with(creds(), "OKRBOT_TIMEZONE", "UTC"), "UTC", false},
		{"typo", "", with(creds(), "OKRBOT_TIMEZONE", "Asia/Shangai"),
			`config: okr.timezone: unknown time zone "Asia/Shangai" (want an IANA name`, true},
		{"offset is not a zone", "", with(creds(), "OKRBOT_TIMEZONE", "+08:00"), `config: okr.timezone: unknown time zone "+08:00"`, true},
		{"wrong case", "[okr]\ntimezone = \"asia/shanghai\"\n", creds(), `config: okr.timezone: unknown time zone "asia/shanghai"`, true},
		{"path escape", "[okr]\ntimezone = \"../../etc/passwd\"\n", creds(), `config: okr.timezone: unknown time zone`, true},
		{"Local", "", with(creds(), "OKRBOT_TIMEZONE", "Local"), `config: okr.timezone: "Local" is whatever zone the host has`, true},
		{"empty in file", "[okr]\ntimezone = \"\"\n", creds(), `config: okr.timezone: must not be empty (default "Asia/Shanghai")`, true},
		{"not a string", "[okr]\ntimezone = 8\n", creds(), `config: okr.timezone: must be a string`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ""
			if tc.file != "" {
				p = writeFile(t, tc.file)
			}
			c, err := Load(p, env(tc.vars))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Load succeeded (%q), want %q", c.OKR.Timezone, tc.want)
				}
				wantAll(t, err.Error(), tc.want)
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != "okr.timezone" {
					t.Errorf("error %#v is not a *KeyError for okr.timezone", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.OKR.Timezone != tc.want || c.OKR.Location == nil || c.OKR.Location.String() != tc.want {
				t.Fatalf("Timezone %q, Location %v; want %q", c.OKR.Timezone, c.OKR.Location, tc.want)
			}
		})
	}
	// The location is the zone: 2023-04 starts on 1 April at 00:00 +08:00,
	// which is still March in UTC.
	c, err := Load("", env(creds()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2023, time.April, 1, 0, 0, 0, 0, c.OKR.Location)
	if got := start.UTC().Format(time.RFC3339); got != "2023-03-31T16:00:00Z" {
		t.Errorf("2023-04-01 00:00 in Asia/Shanghai = %s UTC", got)
	}
	if Default().OKR.Location == nil || Default().OKR.Location.String() != DefaultTimezone {
		t.Errorf("Default().OKR.Location = %v", Default().OKR.Location)
	}
	// Validate catches a Timezone changed by hand without its Location.
	v := validBase()
	v.OKR.Timezone = "Europe/Berlin"
	if err := v.Validate(); err == nil || !strings.Contains(err.Error(), "config: okr.timezone:") {
		t.Errorf("Validate with Timezone %q and Location %v = %v, want an okr.timezone error", v.OKR.Timezone, v.OKR.Location, err)
	}
	v.OKR.Location = mustLoc("Europe/Berlin")
	if err := v.Validate(); err != nil {
		t.Errorf("Validate with both set: %v", err)
	}
	v.OKR.Location = nil // Load sets it; Validate alone accepts its absence
	if err := v.Validate(); err != nil {
		t.Errorf("Validate without Location: %v", err)
	}
}

func TestMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		name, addr, metrics string
		want                string // "" = valid
	}{
		{"unset", "", "", ""},
		{"loopback", "", "127.0.0.1:9100", ""},
		{"all interfaces", "", ":9100", ""},
		{"ipv6", "", "[::1]:9100", ""},
		{"any port", "", "127.0.0.1:0", ""},
		{"same port, other host", "10.0.0.1:8080", "127.0.0.1:8080", ""},
		{"no port", "", "localhost", `config: server.metrics_addr: invalid listen address "localhost"`},
		{"bad port", "", "127.0.0.1:metrics", `config: server.metrics_addr: invalid port in listen address`},
		{"port too big", "", "127.0.0.1:70000", `config: server.metrics_addr: invalid port in listen address`},
		{"a URL", "", "http://127.0.0.1:9100/metrics", `config: server.metrics_addr: invalid listen address`},
		{"same as server.addr", "", "127.0.0.1:8080", `config: server.metrics_addr: "127.0.0.1:8080" would listen where server.addr "127.0.0.1:8080" does`},
		{"wildcard over server.addr", "127.0.0.1:9000", ":9000", `config: server.metrics_addr: ":9000" would listen where server.addr`},
		{"under a wildcard server.addr", "0.0.0.0:9000", "127.0.0.1:9000", `would listen where server.addr`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := creds()
			if tc.addr != "" {
				vars["OKRBOT_ADDR"] = tc.addr
			}
			if tc.metrics != "" {
				vars["OKRBOT_METRICS_ADDR"] = tc.metrics
			}
			c, err := Load("", env(vars))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Server.MetricsAddr != tc.metrics {
					t.Errorf("MetricsAddr = %q, want %q", c.Server.MetricsAddr, tc.metrics)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.want)
			}
			wantAll(t, err.Error(), tc.want)
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Key != "server.metrics_addr" || ke.Env != "OKRBOT_METRICS_ADDR" {
				t.Errorf("error %#v is not a *KeyError for server.metrics_addr", err)
			}
		})
	}
	// From the file too.
	c, err := Load(writeFile(t, "[server]\nmetrics_addr = \"127.0.0.1:9464\"\n"), env(creds()))
	if err != nil || c.Server.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("Load = %q, %v", c.Server.MetricsAddr, err)
	}
}
