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
)

// DefaultFile is the file read when no -config flag is given, if it exists in
// the working directory.
const DefaultFile = "config.toml"

// Store backends accepted by store.backend.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// Default values of section 2 of the contract.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultEventPath       = "/webhook/event"
	DefaultCardPath        = "/webhook/card"
	DefaultShutdownTimeout = 20 * time.Second
	DefaultBaseURL         = "https://open.feishu.cn"
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
	}
	Feishu struct {
		AppID             string // feishu.app_id, FEISHU_APP_ID, required, starts with "cli_"
		AppSecret         string // feishu.app_secret, FEISHU_APP_SECRET, required
		VerificationToken string // feishu.verification_token, FEISHU_VERIFICATION_TOKEN, required
		EncryptKey        string // feishu.encrypt_key, FEISHU_ENCRYPT_KEY, optional
		BaseURL           string // feishu.base_url, FEISHU_BASE_URL, default "https://open.feishu.cn", no trailing slash
	}
	OKR struct {
		DefaultPeriodRuleID string // okr.default_period_rule_id, OKRBOT_DEFAULT_PERIOD_RULE_ID
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
		Path string // audit.path, OKRBOT_AUDIT_PATH; empty = no audit log
	}
}

// Default returns the configuration with every default of spec §2 filled in.
// The required Feishu credentials are left empty, so it does not validate as is.
func Default() Config {
	var c Config
	c.Server.Addr = DefaultAddr
	c.Server.EventPath = DefaultEventPath
	c.Server.CardPath = DefaultCardPath
	c.Server.ShutdownTimeout = DefaultShutdownTimeout
	c.Feishu.BaseURL = DefaultBaseURL
	c.Bot.MaxMessageAge = DefaultMaxMessageAge
	c.Store.Backend = DefaultBackend
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
	if c.Server.Addr == "" {
		errs = append(errs, keyErr("server.addr", "OKRBOT_ADDR", nil, `must not be empty (default %q)`, DefaultAddr))
	} else if _, port, err := net.SplitHostPort(c.Server.Addr); err != nil {
		errs = append(errs, keyErr("server.addr", "OKRBOT_ADDR", err, `invalid listen address %q (want host:port, e.g. %q)`, c.Server.Addr, DefaultAddr))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, keyErr("server.addr", "OKRBOT_ADDR", err, `invalid port in listen address %q`, c.Server.Addr))
	}
	eventOK := checkPath(&errs, "server.event_path", c.Server.EventPath)
	cardOK := checkPath(&errs, "server.card_path", c.Server.CardPath)
	if eventOK && cardOK && c.Server.EventPath == c.Server.CardPath {
		errs = append(errs, keyErr("server.card_path", "", nil, "%q is also server.event_path; the two must differ", c.Server.CardPath))
	}
	add(positive("server.shutdown_timeout", "", c.Server.ShutdownTimeout))

	// feishu
	switch id := c.Feishu.AppID; {
	case id == "":
		errs = append(errs, requiredErr("feishu.app_id", "FEISHU_APP_ID"))
	case !strings.HasPrefix(id, "cli_") || len(id) == len("cli_"):
		errs = append(errs, keyErr("feishu.app_id", "FEISHU_APP_ID", nil, `%q is not a Feishu app id (want "cli_...")`, id))
	}
	if c.Feishu.AppSecret == "" {
		errs = append(errs, requiredErr("feishu.app_secret", "FEISHU_APP_SECRET"))
	}
	if c.Feishu.VerificationToken == "" {
		errs = append(errs, requiredErr("feishu.verification_token", "FEISHU_VERIFICATION_TOKEN"))
	}
	add(checkBaseURL(c.Feishu.BaseURL))

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
