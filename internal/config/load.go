package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// kind is the type of value a key holds.
type kind int

const (
	kindString   kind = iota // TOML string
	kindDuration             // TOML string in Go duration syntax, e.g. "10m"
	kindList                 // TOML array of strings; in env, comma-separated
)

// need says when a key must be set.
type need int

const (
	optional            need = iota
	needed                   // always required
	neededInWebhookMode      // required unless feishu.mode is "websocket"
)

// field describes one configuration key.
type field struct {
	table, name string // TOML table and key: server, addr
	env         string // environment variable, or "" when the key has none
	kind        kind
	def         string // default, written as in the environment ("20s"); "" = empty
	need        need
	// ptr returns a pointer into c: *string, *time.Duration or *[]string.
	ptr func(c *Config) any
}

func (f field) key() string { return f.table + "." + f.name }

// set stores text, written as in the environment, into c: a string as is, a
// duration parsed, a list split at commas and cleaned.
func (f field) set(c *Config, text string) error {
	switch p := f.ptr(c).(type) {
	case *string:
		*p = text
	case *time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		*p = cleanList(strings.Split(text, ","))
	}
	return nil
}

// fields is the keys table: every key of docs/contract.md §2 with its environment
// variable, its default and whether it is required, in the order of the
// contract's table. Load, Default, Validate's required checks, Keys and the
// documentation tests all read it.
func fields() []field {
	return []field{
		{"server", "addr", "OKRBOT_ADDR", kindString, DefaultAddr, optional, func(c *Config) any { return &c.Server.Addr }},
		{"server", "event_path", "", kindString, DefaultEventPath, optional, func(c *Config) any { return &c.Server.EventPath }},
		{"server", "card_path", "", kindString, DefaultCardPath, optional, func(c *Config) any { return &c.Server.CardPath }},
		{"server", "shutdown_timeout", "", kindDuration, durationText(DefaultShutdownTimeout), optional, func(c *Config) any { return &c.Server.ShutdownTimeout }},
		{"server", "metrics_addr", "OKRBOT_METRICS_ADDR", kindString, "", optional, func(c *Config) any { return &c.Server.MetricsAddr }},
		{"feishu", "app_id", "FEISHU_APP_ID", kindString, "", needed, func(c *Config) any { return &c.Feishu.AppID }},
		{"feishu", "app_secret", "FEISHU_APP_SECRET", kindString, "", needed, func(c *Config) any { return &c.Feishu.AppSecret }},
		{"feishu", "verification_token", "FEISHU_VERIFICATION_TOKEN", kindString, "", neededInWebhookMode, func(c *Config) any { return &c.Feishu.VerificationToken }},
		{"feishu", "encrypt_key", "FEISHU_ENCRYPT_KEY", kindString, "", optional, func(c *Config) any { return &c.Feishu.EncryptKey }},
		{"feishu", "mode", "FEISHU_MODE", kindString, DefaultMode, optional, func(c *Config) any { return &c.Feishu.Mode }},
		{"feishu", "base_url", "FEISHU_BASE_URL", kindString, DefaultBaseURL, optional, func(c *Config) any { return &c.Feishu.BaseURL }},
		{"okr", "timezone", "OKRBOT_TIMEZONE", kindString, DefaultTimezone, optional, func(c *Config) any { return &c.OKR.Timezone }},
		{"okr", "default_period_rule_id", "OKRBOT_DEFAULT_PERIOD_RULE_ID", kindString, "", optional, func(c *Config) any { return &c.OKR.DefaultPeriodRuleID }},
		{"access", "operators", "OKRBOT_OPERATORS", kindList, "", optional, func(c *Config) any { return &c.Access.Operators }},
		{"access", "chats", "OKRBOT_CHATS", kindList, "", optional, func(c *Config) any { return &c.Access.Chats }},
		{"bot", "max_message_age", "OKRBOT_MAX_MESSAGE_AGE", kindDuration, durationText(DefaultMaxMessageAge), optional, func(c *Config) any { return &c.Bot.MaxMessageAge }},
		{"store", "backend", "OKRBOT_STORE_BACKEND", kindString, DefaultBackend, optional, func(c *Config) any { return &c.Store.Backend }},
		{"store", "redis_url", "OKRBOT_REDIS_URL", kindString, "", optional, func(c *Config) any { return &c.Store.RedisURL }},
		{"audit", "path", "OKRBOT_AUDIT_PATH", kindString, "", optional, func(c *Config) any { return &c.Audit.Path }},
	}
}

// durationText writes d the way people write it in the config: "20s",
// "10m", "1h30m" (time.Duration.String gives "10m0s").
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Key describes one configuration key, for documentation and diagnostics.
type Key struct {
	Name string // TOML key, e.g. "server.addr"
	Env  string // environment variable, or "" when the key has none
	// Default is the default value as written in the environment, e.g.
	// "127.0.0.1:8080" or "20s"; "" when the default is empty (or none).
	Default string
	// Required is "" for an optional key, "always" for one that must be set,
	// or a feishu.mode (ModeWebhook) in which alone it must be set.
	Required string
}

// Keys returns every configuration key of docs/contract.md §2 with its environment
// variable, default and requirement, in the order of the contract's table.
func Keys() []Key {
	fs := fields()
	keys := make([]Key, len(fs))
	for i, f := range fs {
		keys[i] = Key{Name: f.key(), Env: f.env, Default: f.def}
		switch f.need {
		case needed:
			keys[i].Required = "always"
		case neededInWebhookMode:
			keys[i].Required = ModeWebhook
		}
	}
	return keys
}

// Load reads the TOML file at path (path "" means no file), then applies the
// environment overrides looked up with getenv (os.LookupEnv in production; nil
// means no environment), then normalises and validates the result.
//
// A file given but missing, a TOML syntax error, an unknown key, a value of
// the wrong type or a malformed duration is an error naming the path or the
// key; all such problems are reported together. An environment variable that
// is unset, empty or only spaces leaves the key as the file (or the default)
// has it. List variables are comma-separated; items are trimmed and empty
// items dropped. Normalisation trims trailing slashes from feishu.base_url,
// lower-cases feishu.mode and store.backend, trims okr.timezone, and trims, de-duplicates and drops empty items of
// the lists.
func Load(path string, getenv func(string) (string, bool)) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err) // *fs.PathError names the path
		}
		if err := decodeFile(&c, path, string(data)); err != nil {
			errs = append(errs, err)
		}
	}
	if getenv != nil {
		errs = append(errs, applyEnv(&c, getenv)...)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	c.normalize()
	c.OKR.Location = nil // Validate checks okr.timezone; it is loaded below
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	loc, err := loadLocation(c.OKR.Timezone)
	if err != nil {
		return Config{}, err // unreachable: Validate loaded it
	}
	c.OKR.Location = loc
	return c, nil
}

// normalize puts values in canonical form.
func (c *Config) normalize() {
	// Only a path's trailing slashes go: "https://" stays as it is, for
	// Validate to report.
	if u, err := url.Parse(c.Feishu.BaseURL); err == nil && u.Host != "" && u.RawQuery == "" && u.Fragment == "" {
		c.Feishu.BaseURL = strings.TrimRight(c.Feishu.BaseURL, "/")
	}
	c.Feishu.Mode = strings.ToLower(strings.TrimSpace(c.Feishu.Mode))
	c.OKR.Timezone = strings.TrimSpace(c.OKR.Timezone)
	c.Store.Backend = strings.ToLower(strings.TrimSpace(c.Store.Backend))
	c.Access.Operators = cleanList(c.Access.Operators)
	c.Access.Chats = cleanList(c.Access.Chats)
}

// cleanList trims items, drops empty ones and duplicates, keeping order.
func cleanList(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// applyEnv overrides c with every environment variable that is set.
func applyEnv(c *Config, getenv func(string) (string, bool)) []error {
	var errs []error
	for _, f := range fields() {
		if f.env == "" {
			continue
		}
		v, ok := getenv(f.env)
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			continue
		}
		if err := f.set(c, v); err != nil { // only a duration can fail
			errs = append(errs, durationErr(f, v, " from "+f.env, err))
		}

	}
	return errs
}

// durationErr reports s, a malformed duration for key f; suffix ends the
// message.
func durationErr(f field, s, suffix string, err error) error {
	return keyErr(f.key(), f.env, err, "invalid duration %q%s (want Go syntax, e.g. \"90s\", \"10m\", \"1h30m\")", s, suffix)
}

// decodeFile applies the TOML document data (read from path) to c. It
// reports every unknown key and every malformed value, joined.
func decodeFile(c *Config, path, data string) error {
	var top map[string]toml.Primitive
	md, err := toml.Decode(data, &top)
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	known := map[string][]field{}
	for _, f := range fields() {
		known[f.table] = append(known[f.table], f)
	}
	in := " in " + path

	var errs []error
	reported := map[string]bool{} // keys with an error; their sub-keys are not reported again
	fail := func(key string, err error) {
		reported[key] = true
		errs = append(errs, err)
	}
	for _, table := range keyOrder(md, nil, top) {
		tkey := toml.Key{table}.String()
		tfields, ok := known[table]
		if !ok {
			fail(tkey, unknownKey(tkey, in))
			continue
		}
		var raw any
		if err := md.PrimitiveDecode(top[table], &raw); err != nil {
			fail(tkey, keyErr(tkey, "", err, "%v", err))
			continue
		}
		if _, ok := raw.(map[string]any); !ok {
			fail(tkey, keyErr(tkey, "", nil, "must be a table ([%s])%s, got %s", table, in, typeName(raw)))
			continue
		}
		var leaves map[string]toml.Primitive
		if err := md.PrimitiveDecode(top[table], &leaves); err != nil {
			fail(tkey, keyErr(tkey, "", err, "%v", err))
			continue
		}
		for _, name := range keyOrder(md, toml.Key{table}, leaves) {
			key := toml.Key{table, name}.String()
			i := slices.IndexFunc(tfields, func(f field) bool { return f.name == name })
			if i < 0 {
				fail(key, unknownKey(key, in))
				continue
			}
			if err := decodeValue(c, md, tfields[i], leaves[name], in); err != nil {
				fail(key, err)
			}
		}
	}
	// Safety net: anything the walk above did not consume and that does not
	// sit under a key already reported is unknown too.
	for _, k := range md.Undecoded() {
		covered := false
		for i := 1; i <= len(k); i++ {
			if reported[k[:i].String()] {
				covered = true
				break
			}
		}
		if !covered {
			fail(k.String(), unknownKey(k.String(), in))
		}
	}
	return errors.Join(errs...)
}

// keyOrder returns the keys of m in the order they first appear in the file
// under prefix, so that errors come in file order.
func keyOrder[V any](md toml.MetaData, prefix toml.Key, m map[string]V) []string {
	var out []string
	for _, k := range md.Keys() {
		if len(k) <= len(prefix) || !slices.Equal(k[:len(prefix)], prefix) {
			continue
		}
		name := k[len(prefix)]
		if _, ok := m[name]; ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for name := range m { // defensive: keys the metadata did not list
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// decodeValue decodes one known key's value into c.
func decodeValue(c *Config, md toml.MetaData, f field, p toml.Primitive, in string) error {
	var raw any
	if err := md.PrimitiveDecode(p, &raw); err != nil {
		return keyErr(f.key(), "", err, "%v", err)
	}
	switch dst := f.ptr(c).(type) {
	case *string:
		s, ok := raw.(string)
		if !ok {
			return keyErr(f.key(), "", nil, "must be a string%s, got %s", in, typeName(raw))
		}
		*dst = s
	case *time.Duration:
		s, ok := raw.(string)
		if !ok {
			return keyErr(f.key(), "", nil, `must be a duration string such as "10m" or "20s"%s, got %s`, in, typeName(raw))
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return durationErr(f, s, in, err)
		}
		*dst = d
	case *[]string:
		arr, ok := raw.([]any)
		if !ok {
			hint := ""
			if s, isStr := raw.(string); isStr {
				hint = fmt.Sprintf(" (write %s = [%q])", f.name, s)
			}
			return keyErr(f.key(), "", nil, "must be an array of strings%s, got %s%s", in, typeName(raw), hint)
		}
		list := make([]string, 0, len(arr))
		for i, v := range arr {
			s, ok := v.(string)
			if !ok {
				return keyErr(f.key(), "", nil, "must be an array of strings%s, item %d is %s", in, i+1, typeName(v))
			}
			list = append(list, s)
		}
		*dst = list
	}
	return nil
}

// unknownKey reports a key the configuration does not have, with a
// suggestion when one is close.
func unknownKey(key, in string) error {
	msg := "unknown key" + in
	if s := suggest(key); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return keyErr(key, "", nil, "%s", msg)
}

// suggest returns the known key or table closest to key, or "".
func suggest(key string) string {
	fs := fields()
	parts := strings.Split(strings.ToLower(strings.ReplaceAll(key, `"`, "")), ".")
	leaf := parts[len(parts)-1]
	near := func(a, b string) bool { return editDistance(a, b) <= max(1, len(a)/4) }
	switch len(parts) {
	case 1:
		for _, f := range fs { // a table with the wrong case or a typo
			if near(leaf, f.table) {
				return f.table
			}
		}
	case 2:
		for _, f := range fs { // a key of its table, wrong case or a typo
			if f.table == parts[0] && near(leaf, f.name) {
				return f.key()
			}
		}
		for _, f := range fs { // a table with the wrong case or a typo
			if f.name == leaf && near(parts[0], f.table) {
				return f.key()
			}
		}
	}
	for _, f := range fs { // the right name in the wrong place
		if f.name == leaf {
			return f.key()
		}
	}
	for _, f := range fs {
		if near(leaf, f.name) {
			return f.key()
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// typeName names the TOML type of a decoded value, with an article.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", v)
}
