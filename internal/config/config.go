// Package config loads, validates and redacts okrbot's configuration: a TOML
// file (see config.example.toml at the repository root) overridden key by key
// by environment variables, as laid down in section 2 of the product contract.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	// Zone data compiled in, so that okr.timezone validates, and resolves,
	// alike on every host, with or without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// DefaultFile is the file read when no -config flag is given, if it exists in
// the working directory.
const DefaultFile = "config.toml"

// Store backends accepted by store.backend.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// How okrbot receives events and card callbacks, set by feishu.mode.
const (
	// ModeWebhook: Feishu pushes to server.event_path and server.card_path.
	ModeWebhook = "webhook"
	// ModeWebSocket: the bot dials Feishu's long connection and receives
	// events and card callbacks over it.
	ModeWebSocket = "websocket"
)

// Default values of section 2 of the contract. The keys table (fields in
// load.go) says which key each belongs to; Default applies them from there.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultEventPath       = "/webhook/event"
	DefaultCardPath        = "/webhook/card"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultMode            = ModeWebhook
	DefaultBaseURL         = "https://open.feishu.cn"
	DefaultTimezone        = "Asia/Shanghai"
	DefaultMaxMessageAge   = 10 * time.Minute
	DefaultBackend         = BackendMemory
)

// redactedValue replaces a secret in Redacted.
const redactedValue = "***"

// Config is okrbot's complete configuration. Each field's comment gives its
// TOML key, its environment variable and its default.
type Config struct {
	Server struct {
		Addr            string        // server.addr, OKRBOT_ADDR, default "127.0.0.1:8080"
		EventPath       string        // server.event_path, default "/webhook/event"
		CardPath        string        // server.card_path, default "/webhook/card"
		ShutdownTimeout time.Duration // server.shutdown_timeout, default 20s
		MetricsAddr     string        // server.metrics_addr, OKRBOT_METRICS_ADDR, host:port; empty = /metrics on Addr
	}
	Feishu struct {
		AppID             string // feishu.app_id, FEISHU_APP_ID, required, starts with "cli_"
		AppSecret         string // feishu.app_secret, FEISHU_APP_SECRET, required
		VerificationToken string // feishu.verification_token, FEISHU_VERIFICATION_TOKEN, required in webhook mode
		EncryptKey        string // feishu.encrypt_key, FEISHU_ENCRYPT_KEY, optional
		Mode              string // feishu.mode, FEISHU_MODE, ModeWebhook (default) or ModeWebSocket
		BaseURL           string // feishu.base_url, FEISHU_BASE_URL, default "https://open.feishu.cn", no trailing slash
	}
	OKR struct {
		Timezone            string // okr.timezone, OKRBOT_TIMEZONE, IANA name, default "Asia/Shanghai"
		DefaultPeriodRuleID string // okr.default_period_rule_id, OKRBOT_DEFAULT_PERIOD_RULE_ID
		// Location is Timezone loaded; Load and Default set it, never nil
		// after either. Whoever changes Timezone by hand sets it too.
		Location *time.Location
	}
	Access struct {
		Operators []string // access.operators, OKRBOT_OPERATORS (comma-separated)
		Chats     []string // access.chats, OKRBOT_CHATS (comma-separated); empty = any chat
	}
	Bot struct {
		MaxMessageAge time.Duration // bot.max_message_age, OKRBOT_MAX_MESSAGE_AGE, default 10m
	}
	Store struct {
		Backend  string // store.backend, OKRBOT_STORE_BACKEND, "memory" (default) or "redis"
		RedisURL string // store.redis_url, OKRBOT_REDIS_URL, required when Backend is "redis"
	}
	Audit struct {
		Path string // audit.path, OKRBOT_AUDIT_PATH; empty = audit records go to the log only
	}
}

// Default returns the configuration with every default of docs/contract.md §2 filled in
// (from the keys table, fields in load.go), OKR.Location included. The
// required Feishu credentials are left empty, so it does not validate as is.
func Default() Config {
	var c Config
	for _, f := range fields() {
		if f.def == "" {
			continue
		}
		if err := f.set(&c, f.def); err != nil {
			panic("config: bad default in the keys table: " + err.Error()) // caught by the tests
		}
	}
	loc, err := loadLocation(c.OKR.Timezone)
	if err != nil {
		// Unreachable: the zone data is compiled in. Asia/Shanghai has kept
		// +08:00 without daylight saving since 1991.
		loc = time.FixedZone(DefaultTimezone, 8*60*60)
	}
	c.OKR.Location = loc
	return c
}

// FindDefault returns DefaultFile ("config.toml") if it exists in the working
// directory, else "". Anything other than plain absence (a directory, an
// unreadable file) still returns the name, so that Load reports the problem.
func FindDefault() string {
	if _, err := os.Stat(DefaultFile); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return DefaultFile
}

// KeyError is a problem with one configuration key. Its message starts with
// "config: " and names the key (and the environment variable when that is
// where the bad value came from or how a missing value is to be set).
type KeyError struct {
	Key string // TOML key, e.g. "bot.max_message_age"
	Env string // environment variable involved, or ""
	Err error  // underlying cause, or nil
	msg string
}

// Error returns the message, e.g.
// `config: bot.max_message_age: invalid duration "ten minutes"`.
func (e *KeyError) Error() string { return e.msg }

// Unwrap returns the underlying cause, if any.
func (e *KeyError) Unwrap() error { return e.Err }

// keyErr builds a KeyError "config: KEY: MSG".
func keyErr(key, env string, cause error, format string, args ...any) *KeyError {
	return &KeyError{Key: key, Env: env, Err: cause, msg: "config: " + key + ": " + fmt.Sprintf(format, args...)}
}

// requiredErr builds a KeyError "config: KEY is required (set ENV)".
func requiredErr(key, env string) *KeyError {
	msg := "config: " + key + " is required"
	if env != "" {
		msg += " (set " + env + ")"
	}
	return &KeyError{Key: key, Env: env, msg: msg}
}

// Validate reports every problem of c at once: the result joins one
// *KeyError per problem (errors.Join, so one problem a line), or is nil.
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// server
	var addrPort string
	if c.Server.Addr == "" {
		errs = append(errs, keyErr("server.addr", "OKRBOT_ADDR", nil, `must not be empty (default %q)`, DefaultAddr))
	} else if err := checkListenAddr("server.addr", "OKRBOT_ADDR", c.Server.Addr); err != nil {
		errs = append(errs, err)
	} else {
		addrPort = c.Server.Addr
	}
	eventOK := checkPath(&errs, "server.event_path", c.Server.EventPath)
	cardOK := checkPath(&errs, "server.card_path", c.Server.CardPath)
	if eventOK && cardOK && c.Server.EventPath == c.Server.CardPath {
		errs = append(errs, keyErr("server.card_path", "", nil, "%q is also server.event_path; the two must differ", c.Server.CardPath))
	}
	add(positive("server.shutdown_timeout", "", c.Server.ShutdownTimeout))
	if m := c.Server.MetricsAddr; m != "" {
		if err := checkListenAddr("server.metrics_addr", "OKRBOT_METRICS_ADDR", m); err != nil {
			errs = append(errs, err)
		} else if addrPort != "" && sameListener(addrPort, m) {
			errs = append(errs, keyErr("server.metrics_addr", "OKRBOT_METRICS_ADDR", nil,
				"%q would listen where server.addr %q does; give /metrics an address of its own, or leave it empty to serve /metrics on server.addr", m, c.Server.Addr))
		}
	}

	// feishu: the required keys first, in the order of the keys table.
	for _, f := range fields() {
		if f.need == optional || (f.need == neededInWebhookMode && c.Feishu.Mode == ModeWebSocket) {
			continue
		}
		if p, ok := f.ptr(&c).(*string); ok && *p == "" {
			errs = append(errs, requiredErr(f.key(), f.env))
		}
	}
	if id := c.Feishu.AppID; id != "" && (!strings.HasPrefix(id, "cli_") || len(id) == len("cli_")) {
		errs = append(errs, keyErr("feishu.app_id", "FEISHU_APP_ID", nil, `%q is not a Feishu app id (want "cli_...")`, id))
	}
	switch c.Feishu.Mode {
	case ModeWebhook, ModeWebSocket:
	default:
		errs = append(errs, keyErr("feishu.mode", "FEISHU_MODE", nil, `%q is not a mode (want %q or %q)`, c.Feishu.Mode, ModeWebhook, ModeWebSocket))
	}
	add(checkBaseURL(c.Feishu.BaseURL))

	// okr
	if loc, err := loadLocation(c.OKR.Timezone); err != nil {
		errs = append(errs, err)
	} else if c.OKR.Location != nil && c.OKR.Location.String() != loc.String() {
		errs = append(errs, keyErr("okr.timezone", "OKRBOT_TIMEZONE", nil,
			"is %q but OKR.Location is %q: set both (Load and Default do)", c.OKR.Timezone, c.OKR.Location))
	}

	// bot
	add(positive("bot.max_message_age", "OKRBOT_MAX_MESSAGE_AGE", c.Bot.MaxMessageAge))

	// store
	switch c.Store.Backend {
	case BackendMemory:
		if c.Store.RedisURL != "" {
			add(checkRedisURL(c.Store.RedisURL))
		}
	case BackendRedis:
		if c.Store.RedisURL == "" {
			errs = append(errs, keyErr("store.redis_url", "OKRBOT_REDIS_URL", nil,
				`is required when store.backend is "redis" (set OKRBOT_REDIS_URL, e.g. "redis://127.0.0.1:6379/0")`))
		} else {
			add(checkRedisURL(c.Store.RedisURL))
		}
	default:
		errs = append(errs, keyErr("store.backend", "OKRBOT_STORE_BACKEND", nil, `%q is not a store backend (want "memory" or "redis")`, c.Store.Backend))
	}
	return errors.Join(errs...)
}

// checkListenAddr requires host:port with a numeric port (0 = any free one).
func checkListenAddr(key, env, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return keyErr(key, env, err, `invalid listen address %q (want host:port, e.g. %q)`, addr, DefaultAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return keyErr(key, env, err, `invalid port in listen address %q`, addr)
	}
	return nil
}

// sameListener reports whether two valid listen addresses would claim the
// same socket: one non-zero port, and the same host or a wildcard host.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if na, _ := strconv.Atoi(pa); na == 0 || pa != pb {
		return false
	}
	wild := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || (ip != nil && ip.IsUnspecified())
	}
	return strings.EqualFold(ha, hb) || wild(ha) || wild(hb)
}

// loadLocation loads okr.timezone, an IANA zone name.
func loadLocation(name string) (*time.Location, error) {
	const key, env = "okr.timezone", "OKRBOT_TIMEZONE"
	switch name {
	case "":
		return nil, keyErr(key, env, nil, "must not be empty (default %q)", DefaultTimezone)
	case "Local":
		return nil, keyErr(key, env, nil, `"Local" is whatever zone the host has; name the tenant's zone, e.g. %q`, DefaultTimezone)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, keyErr(key, env, err, "unknown time zone %q (want an IANA name such as %q or \"Europe/Berlin\")", name, DefaultTimezone)
	}
	return loc, nil
}

// checkPath validates a webhook path and reports whether it is valid.
func checkPath(errs *[]error, key, p string) bool {
	var err error
	switch {
	case p == "":
		err = keyErr(key, "", nil, "must not be empty")
	case !strings.HasPrefix(p, "/"):
		err = keyErr(key, "", nil, `%q must start with "/"`, p)
	case p == "/":
		err = keyErr(key, "", nil, `must not be "/" (it would catch every request)`)
	case strings.ContainsFunc(p, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("?#{}%\\", r)
	}):
		err = keyErr(key, "", nil, `%q must be a plain URL path (no spaces, control characters, or any of ? # { } %% \)`, p)
	case path.Clean(p) != p:
		err = keyErr(key, "", nil, `%q is not a clean path (want %q)`, p, path.Clean(p))
	case p == "/healthz" || p == "/readyz" || p == "/metrics": // served by okrbot itself
		err = keyErr(key, "", nil, `%q is reserved (okrbot serves /healthz, /readyz and /metrics itself)`, p)
	}
	if err != nil {
		*errs = append(*errs, err)
		return false
	}
	return true
}

// positive checks that a duration is > 0.
func positive(key, env string, d time.Duration) error {
	if d <= 0 {
		return keyErr(key, env, nil, "must be > 0, got %s", d)
	}
	return nil
}

// checkBaseURL requires an absolute http(s) URL with a host and no query,
// fragment or trailing slash.
func checkBaseURL(s string) error {
	const key, env = "feishu.base_url", "FEISHU_BASE_URL"
	if s == "" {
		return keyErr(key, env, nil, "must not be empty (default %q)", DefaultBaseURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return keyErr(key, env, err, "%q is not a valid URL: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return keyErr(key, env, nil, `%q must be an absolute http:// or https:// URL`, s)
	case u.Host == "" || u.Hostname() == "":
		return keyErr(key, env, nil, "%q has no host", s)
	case u.User != nil:
		return keyErr(key, env, nil, "must not contain user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return keyErr(key, env, nil, "%q must not have a query or fragment", s)
	case strings.HasSuffix(s, "/"):
		return keyErr(key, env, nil, "%q must not end with a slash", s)
	}
	return nil
}

// checkRedisURL requires redis://[user:password@]host[:port][/db] or the
// rediss:// form. The URL is never echoed: it may hold a password.
func checkRedisURL(s string) error {
	const key, env = "store.redis_url", "OKRBOT_REDIS_URL"
	const want = `want redis://[user:password@]host:port[/db] or rediss://...`
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error would quote the URL, password included
		}
		return keyErr(key, env, err, "not a valid URL (%s)", want)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return keyErr(key, env, nil, "scheme must be redis or rediss, not %q (%s)", u.Scheme, want)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return keyErr(key, env, nil, "has no host (%s)", want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return keyErr(key, env, nil, "invalid port %q", p)
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return keyErr(key, env, nil, "database %q is not a number (%s)", db, want)
		}
	}
	return nil
}

// Redacted returns a copy safe to log: the app secret, the verification
// token, the encrypt key and the password in the Redis URL are replaced with
// "***" when set. A Redis URL that does not parse is replaced as a whole.
func (c Config) Redacted() Config {
	r := c
	r.Access.Operators = slices.Clone(c.Access.Operators)
	r.Access.Chats = slices.Clone(c.Access.Chats)
	r.Feishu.AppSecret = redact(c.Feishu.AppSecret)
	r.Feishu.VerificationToken = redact(c.Feishu.VerificationToken)
	r.Feishu.EncryptKey = redact(c.Feishu.EncryptKey)
	r.Store.RedisURL = redactURL(c.Store.RedisURL)
	return r
}

// redact returns "***" for a set secret and "" for an unset one.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return redactedValue
}

// redactURL hides the password of a URL (or its user name when it has no
// password: redis clients differ on which one a lone user name is) and any
// password query parameter.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return redactedValue
	}
	if u.Opaque != "" {
		return redactedValue
	}
	secret := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED")
		}
		secret = true
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
		secret = true
	}
	if !secret {
		return s
	}
	return strings.ReplaceAll(u.String(), "REDACTED", redactedValue)
}
