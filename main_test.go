package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"okrbot/internal/config"
	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	setEnv(t, "")
	cases := map[string]string{
		write("unknown.toml", "[server]\nadr = \"x\"\n"):             "server.adr",
		write("duration.toml", "[bot]\nmax_message_age = \"ten\"\n"): "bot.max_message_age",
		write("missing.toml", "[feishu]\napp_id = \"cli_x\"\n"):      "feishu.app_secret",
		filepath.Join(dir, "absent.toml"):                            "absent.toml",
	}
	for path, want := range cases {
		var out, errb bytes.Buffer
		code := run([]string{"serve", "-config", path}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q; want non-zero naming %s", filepath.Base(path), code, errb.String(), want)
		}
	}
}

// setEnv points the bot's environment at baseURL (none when empty).
func setEnv(t *testing.T, baseURL string) {
	t.Helper()
	for _, k := range config.Keys() {
		if k.Env != "" {
			t.Setenv(k.Env, "")
		}
	}
	if baseURL == "" {
		return
	}
	t.Setenv("FEISHU_APP_ID", testkit.AppID)
	t.Setenv("FEISHU_APP_SECRET", testkit.AppSecret)
	t.Setenv("FEISHU_VERIFICATION_TOKEN", testkit.VerificationToken)
	t.Setenv("FEISHU_BASE_URL", baseURL)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*feishuemu.Emulator)
		rule     string
		baseURL  string // overrides the emulator's
		ok       bool
		wantLine string
	}{
		{name: "all good", rule: feishuemu.QuarterlyRuleID, ok: true, wantLine: "default rule  ok"},
		{name: "no default rule", ok: true, wantLine: "none configured"},
		{name: "wrong secret", setup: func(e *feishuemu.Emulator) { e.SetAppSecret("rotated") }, wantLine: "app credentials rejected"},
		{name: "missing scope", setup: func(e *feishuemu.Emulator) { e.RevokeScope("okr:okr") }, wantLine: "missing scope: grant okr:okr"},
		{name: "unknown default rule", rule: "1234567890123456789", wantLine: "1234567890123456789 is not one of the tenant's rules"},
		{name: "unreachable base URL", baseURL: "http://127.0.0.1:1", wantLine: "Open Platform unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := feishuemu.New(testkit.EmulatorOptions())
			srv := httptest.NewServer(emu)
			defer srv.Close()
			defer emu.Close()
			if tt.setup != nil {
				tt.setup(emu)
			}
			base := srv.URL
			if tt.baseURL != "" {
				base = tt.baseURL
			}
			setEnv(t, base)
			t.Setenv("OKRBOT_DEFAULT_PERIOD_RULE_ID", tt.rule)
			var out, errb bytes.Buffer
			start := time.Now()
			code := run([]string{"check", "-log-level", "error"}, &out, &errb)
			if (code == 0) != tt.ok {
				t.Errorf("exit %d, want ok=%v\n%s%s", code, tt.ok, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.wantLine) {
				t.Errorf("output lacks %q:\n%s", tt.wantLine, out.String())
			}
			if tt.ok && !strings.Contains(out.String(), feishuemu.MonthlyRuleID) {
				t.Errorf("rules not listed:\n%s", out.String())
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("check took %v", time.Since(start))
			}
		})
	}
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, srv.URL)
	t.Setenv("FEISHU_ENCRYPT_KEY", testkit.EncryptKey)
	t.Setenv("OKRBOT_OPERATORS", testkit.Operator)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("OKRBOT_ADDR", addr)
	emu.SetBotEndpoints("http://"+addr+"/webhook/event", "http://"+addr+"/webhook/card")

	var errb testkit.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"serve", "-log-format", "text"}, io.Discard, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready: %v\n%s", err, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	emu.SetLatency(feishuemu.APICreatePeriod, 500*time.Millisecond)
	d, err := emu.PostMessage(context.Background(), feishuemu.UserMessage{Text: "/newperiod 2022-01 " + feishuemu.MonthlyRuleID, SenderOpenID: testkit.Operator})
	if err != nil || d.Status != 200 {
		t.Fatalf("event: %v %+v", err, d)
	}
	sigtermAndWait(t, exit, &errb)
	if len(emu.Periods()) != 1 || len(emu.Replies()) != 1 {
		t.Fatalf("acknowledged work not finished: %d periods, %d replies", len(emu.Periods()), len(emu.Replies()))
	}
	if !strings.Contains(errb.String(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", errb.String())
	}
}

// runCLI runs okrbot with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// wantHelp fails unless text is the list of commands and common flags.
func wantHelp(t *testing.T, text string) {
	t.Helper()
	for _, want := range []string{"Usage:", "okrbot [command] [flags]", "-config", "-log-format", "-log-level", "-version"} {
		if !strings.Contains(text, want) {
			t.Errorf("help lacks %q:\n%s", want, text)
		}
	}
	// One line per command, each with a summary.
	for _, name := range []string{"serve", "check", "sandbox", "version", "help"} {
		n := 0
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == name && strings.HasPrefix(line, "  ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("help has %d lines for %s, want 1:\n%s", n, name, text)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errb := runCLI(t, args...)
			if code != 0 || errb != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, errb)
			}
			wantHelp(t, out)
		})
	}
}

func TestCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help", "serve"}, []string{"okrbot serve [flags]", "-config", "-log-format", `(default "json")`}},
		{[]string{"serve", "-h"}, []string{"okrbot serve [flags]", "-config"}},
		{[]string{"serve", "--help"}, []string{"okrbot serve [flags]", "-config"}},
		{[]string{"-h", "serve"}, []string{"okrbot serve [flags]", "-config"}},
		{[]string{"-config", "x.toml", "serve", "-h"}, []string{"okrbot serve [flags]"}},
		{[]string{"help", "check"}, []string{"okrbot check [flags]", "-config", `(default "text")`, `(default "warn")`}},
		{[]string{"check", "-h"}, []string{"okrbot check [flags]", "-config"}},
		{[]string{"help", "sandbox"}, []string{"okrbot sandbox [flags]", "-addr", "127.0.0.1:8080"}},
		{[]string{"sandbox", "-help"}, []string{"okrbot sandbox [flags]", "-addr"}},
		{[]string{"help", "version"}, []string{"okrbot version [flags]"}},
		{[]string{"help", "help"}, []string{"okrbot help [command]"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errb := runCLI(t, tc.args...)
			if code != 0 || errb != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing on stderr", code, errb)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(tc.args[0]+tc.args[len(tc.args)-1], "sandbox") && strings.Contains(out, "-addr") {
				t.Errorf("-addr is sandbox's own flag, shown here:\n%s", out)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `okrbot: unknown command "frobnicate"`},
		{[]string{"-log-level", "error", "frobnicate"}, `okrbot: unknown command "frobnicate"`},
		{[]string{"frobnicate", "-config", "x.toml"}, `okrbot: unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `okrbot help: unknown command "frobnicate"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errb := runCLI(t, tc.args...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing on stdout", code, out)
			}
			if first, _, _ := strings.Cut(errb, "\n"); first != tc.want {
				t.Errorf("first line %q, want %q", first, tc.want)
			}
			wantHelp(t, errb)
		})
	}
}

func TestBadFlagsAndArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "-nope"}, "okrbot check: flag provided but not defined: -nope"},
		{[]string{"-nope", "check"}, "okrbot check: flag provided but not defined: -nope"},
		{[]string{"serve", "-addr", "x"}, "okrbot serve: flag provided but not defined: -addr"}, // sandbox's flag
		{[]string{"check", "extra"}, `okrbot check: unexpected argument "extra"`},
		{[]string{"version", "extra"}, `okrbot version: unexpected argument "extra"`},
		{[]string{"serve", "-config"}, "okrbot serve: flag needs an argument: -config"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errb := runCLI(t, tc.args...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing on stdout", code, out)
			}
			if first, _, _ := strings.Cut(errb, "\n"); first != tc.want {
				t.Errorf("first line %q, want %q", first, tc.want)
			}
			if !strings.Contains(errb, "okrbot "+tc.args[len(tc.args)-1]) && !strings.Contains(errb, "Usage:") {
				t.Errorf("no usage after the error:\n%s", errb)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, want, errb := runCLI(t, "version")
	if code != 0 || errb != "" || !strings.HasPrefix(want, "okrbot ") || strings.Count(want, "\n") != 1 {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", code, want, errb)
	}
	for _, args := range [][]string{{"-version"}, {"--version"}, {"-version=true"}, {"check", "-version"}, {"-config", "x.toml", "version"}} {
		if code, out, errb := runCLI(t, args...); code != 0 || out != want || errb != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, out, errb, want)
		}
	}
	// A version set at link time wins.
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	for _, args := range [][]string{{"version"}, {"-version"}} {
		if _, out, _ := runCLI(t, args...); out != "okrbot v1.2.3\n" {
			t.Errorf("%q with version set: %q", args, out)
		}
	}
}

func TestBuildVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name, main string
		settings   []debug.BuildSetting
		want       string
	}{
		{"module version", "v1.4.0", vcs("vcs.revision", rev), "v1.4.0"},
		{"pseudo-version", "v0.0.0-20250102030405-0123456789ab+dirty", nil, "v0.0.0-20250102030405-0123456789ab+dirty"},
		{"revision and time", "(devel)", vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2025-01-02T03:04:05Z", "vcs.modified", "false"),
			"0123456789ab 2025-01-02T03:04:05Z"},
		{"dirty", "(devel)", vcs("vcs.revision", rev, "vcs.time", "2025-01-02T03:04:05Z", "vcs.modified", "true"),
			"0123456789ab+dirty 2025-01-02T03:04:05Z"},
		{"revision only", "", vcs("vcs.revision", "abc123"), "abc123"},
		{"nothing known", "(devel)", nil, "(devel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := &debug.BuildInfo{Main: debug.Module{Path: "okrbot", Version: tc.main}, Settings: tc.settings}
			if got := buildVersion(info); got != tc.want {
				t.Errorf("buildVersion = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLinkTimeVersion builds the binary as a release would and runs it.
func TestLinkTimeVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "okrbot")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=v9.8.7-test", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"-version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != "okrbot v9.8.7-test\n" {
			t.Errorf("okrbot %q: %q, %v", args, out, err)
		}
	}
	// And -h from the real binary exits 0.
	if out, err := exec.Command(bin, "-h").Output(); err != nil || !strings.Contains(string(out), "sandbox") {
		t.Errorf("okrbot -h: %v\n%s", err, out)
	}
}

// writeConfig writes a config file for the emulator at baseURL.
func writeConfig(t *testing.T, baseURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "okrbot.toml")
	text := "[feishu]\napp_id = \"" + testkit.AppID + "\"\nbase_url = \"" + baseURL + "\"\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlagsBeforeOrAfterCommand(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, "")
	t.Setenv("FEISHU_APP_SECRET", testkit.AppSecret) // the rest comes from the file
	t.Setenv("FEISHU_VERIFICATION_TOKEN", testkit.VerificationToken)
	cfg := writeConfig(t, srv.URL)

	var first string
	for _, args := range [][]string{
		{"check", "-config", cfg},
		{"-config", cfg, "check"},
		{"-config=" + cfg, "check"},
		{"--config", cfg, "-log-level", "error", "check"},
		{"-log-format", "text", "check", "-config", cfg},
	} {
		code, out, errb := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errb)
			continue
		}
		if !strings.Contains(out, "tenant access token fetched") || !strings.Contains(out, "app "+testkit.AppID) {
			t.Errorf("%q: the config file was not used:\n%s", args, out)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("%q: output differs from %q's:\n%s\nvs\n%s", args, "check -config", out, first)
		}
	}

	// A missing file, named before or after the command, and with no
	// command (serve).
	missing := filepath.Join(t.TempDir(), "absent.toml")
	for _, args := range [][]string{
		{"-config", missing, "check"}, {"check", "-config", missing},
		{"-config", missing, "serve"}, {"serve", "-config", missing}, {"-config", missing},
	} {
		code, _, errb := runCLI(t, args...)
		if code != 1 || !strings.Contains(errb, missing) {
			t.Errorf("%q: exit %d, stderr %q; want 1 naming %s", args, code, errb, missing)
		}
	}
}

// TestCheckSpeaksText: check's stdout and stderr are text for people, also
// when the bot warns (no operators) or the configuration is wrong.
func TestCheckSpeaksText(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	noJSON := func(t *testing.T, name, text string) {
		t.Helper()
		for _, line := range strings.Split(text, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "{") || strings.Contains(l, `":"`) {
				t.Errorf("%s has a JSON line %q:\n%s", name, line, text)
			}
		}
	}

	setEnv(t, srv.URL) // no OKRBOT_OPERATORS: the bot warns
	code, out, errb := runCLI(t, "check")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	noJSON(t, "stdout", out)
	noJSON(t, "stderr", errb)
	if !strings.Contains(errb, "access.operators is empty") || !strings.Contains(errb, "level=WARN") {
		t.Errorf("the warning is not on stderr as text:\n%s", errb)
	}
	if strings.Contains(errb, "time=") {
		t.Errorf("check's log lines carry the time:\n%s", errb)
	}
	if strings.Contains(out, "access.operators") {
		t.Errorf("a log line went to stdout:\n%s", out)
	}
	// Info lines (e.g. the token fetch) are not shown by default.
	if strings.Contains(errb, "level=INFO") {
		t.Errorf("check shows info lines:\n%s", errb)
	}

	t.Setenv("OKRBOT_OPERATORS", testkit.Operator)
	if code, out, errb := runCLI(t, "check"); code != 0 || errb != "" {
		t.Errorf("with operators: exit %d, stderr %q\n%s", code, errb, out)
	}

	// A wrong secret: the failure is a line of the table, still text.
	emu.SetAppSecret("rotated")
	code, out, errb = runCLI(t, "check")
	if code != 1 || !strings.Contains(out, "app credentials rejected") {
		t.Errorf("wrong secret: exit %d\n%s%s", code, out, errb)
	}
	noJSON(t, "stdout", out)
	noJSON(t, "stderr", errb)

	// A bad configuration: one line a problem, naming the key.
	t.Setenv("FEISHU_MODE", "carrier-pigeon")
	t.Setenv("OKRBOT_TIMEZONE", "Mars/Olympus")
	code, out, errb = runCLI(t, "check")
	if code != 1 || out != "" {
		t.Errorf("bad config: exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errb), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "config: feishu.mode:") || !strings.HasPrefix(lines[1], "config: okr.timezone:") {
		t.Errorf("bad config: stderr\n%s\nwant one line for feishu.mode, one for okr.timezone", errb)
	}
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the status and body of GET url ("" and 0 when it fails).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeMetricsAddr(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, srv.URL)
	t.Setenv("OKRBOT_OPERATORS", testkit.Operator)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	t.Setenv("OKRBOT_ADDR", addr)
	t.Setenv("OKRBOT_METRICS_ADDR", metricsAddr)

	var errb testkit.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"serve", "-log-format", "text"}, io.Discard, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("http://" + addr + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get("http://" + metricsAddr + "/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "# TYPE") {
		t.Errorf("GET metrics_addr/metrics: %d\n%.300s", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/", "/webhook/event"} {
		if code, _ := get("http://" + metricsAddr + path); code != 404 {
			t.Errorf("GET metrics_addr%s = %d, want 404: only /metrics is served there", path, code)
		}
	}
	if code, _ := get("http://" + addr + "/healthz"); code != 200 {
		t.Errorf("GET server.addr/healthz = %d", code)
	}
	if !strings.Contains(errb.String(), "metrics_addr="+metricsAddr) {
		t.Errorf("the start-up log does not name metrics_addr:\n%s", errb.String())
	}
	// /metrics is served there only, not on server.addr.
	if code, _ := get("http://" + addr + "/metrics"); code != 404 {
		t.Errorf("GET server.addr/metrics = %d, want 404 when metrics_addr is set", code)
	}

	sigtermAndWait(t, exit, &errb)
	// Both listeners are closed.
	for _, a := range []string{addr, metricsAddr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after serve returned", a)
		}
	}
}

func TestServeMetricsAddrTaken(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, srv.URL)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := freeAddr(t)
	t.Setenv("OKRBOT_ADDR", addr)
	t.Setenv("OKRBOT_METRICS_ADDR", busy.Addr().String())
	code, _, errb := runCLI(t, "serve", "-log-level", "error")
	if code != 1 || !strings.Contains(errb, "server.metrics_addr") {
		t.Fatalf("exit %d, stderr %q; want 1 naming server.metrics_addr", code, errb)
	}
	// server.addr was let go.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("server.addr still held: %v", err)
	} else {
		ln.Close()
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		cmd  string
		rest []string
	}{
		{nil, "", nil},
		{[]string{"check"}, "check", []string{}},
		{[]string{"-config", "x.toml", "check"}, "check", []string{"-config", "x.toml"}},
		{[]string{"check", "-config", "x.toml"}, "check", []string{"-config", "x.toml"}},
		{[]string{"--config=x.toml", "check", "-log-level", "warn"}, "check", []string{"--config=x.toml", "-log-level", "warn"}},
		{[]string{"-addr", "127.0.0.1:0", "sandbox"}, "sandbox", []string{"-addr", "127.0.0.1:0"}},                 // another command's flag takes its value too
		{[]string{"-version", "check"}, "check", []string{"-version"}},                                             // a boolean flag takes none
		{[]string{"-log-format", "text"}, "", []string{"-log-format", "text"}},                                     // no command: serve
		{[]string{"-config", "serve"}, "", []string{"-config", "serve"}},                                           // "serve" is the file here
		{[]string{"-h", "help", "serve"}, "help", []string{"-h", "serve"}},                                         // only the first is the command
		{[]string{"--", "check"}, "check", []string{}},                                                             // after "--" comes the command
		{[]string{"-nope", "check", "-config", "c.toml"}, "check", []string{"-nope", "-config", "c.toml"}},         // unknown flags are left to the command
		{[]string{"-log-level", "error", "frobnicate", "-x"}, "frobnicate", []string{"-log-level", "error", "-x"}}, // unknown commands are found too
	} {
		args := append([]string(nil), tc.args...)
		cmd, rest := splitCommand(commands(), args)
		if cmd != tc.cmd || strings.Join(rest, "\x00") != strings.Join(tc.rest, "\x00") {
			t.Errorf("splitCommand(%q) = %q, %q; want %q, %q", tc.args, cmd, rest, tc.cmd, tc.rest)
		}
		if strings.Join(args, "\x00") != strings.Join(tc.args, "\x00") {
			t.Errorf("splitCommand(%q) changed its argument to %q", tc.args, args)
		}
	}
}

// TestServeWebSocketMode: in websocket mode no verification token is needed,
// the bot holds the long connection, and the webhook paths answer 404.
func TestServeWebSocketMode(t *testing.T) {
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, srv.URL)
	t.Setenv("FEISHU_VERIFICATION_TOKEN", "")
	t.Setenv("FEISHU_MODE", "websocket")
	addr := freeAddr(t)
	t.Setenv("OKRBOT_ADDR", addr)

	var errb testkit.Buffer
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-log-format", "text"}, io.Discard, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("http://" + addr + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/webhook/event", "/webhook/card"} {
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("POST %s = %d, want 404 in websocket mode", path, resp.StatusCode)
		}
	}
	if code, body := get("http://" + addr + "/metrics"); code != 200 || !strings.Contains(body, "# TYPE") {
		t.Errorf("GET /metrics = %d", code)
	}
	if !strings.Contains(errb.String(), "mode=websocket") || strings.Contains(errb.String(), "event_path=") {
		t.Errorf("the start-up log should name the mode and no webhook path:\n%s", errb.String())
	}
	sigtermAndWait(t, exit, &errb)
}

// TestCheckWebSocket: in websocket mode check also asks the long-connection
// endpoint for a URL and says in one line whether a connection can be had.
func TestCheckWebSocket(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*feishuemu.Emulator)
		ok       bool
		wantLine string
	}{
		{name: "ok", ok: true, wantLine: "long conn     ok   a connection can be had"},
		{name: "bad credentials", setup: func(e *feishuemu.Emulator) { e.SetAppSecret("rotated") },
			wantLine: "long conn     FAIL app credentials rejected by the long-connection endpoint"},
		{name: "busy", setup: func(e *feishuemu.Emulator) { e.RefuseWS(feishuemu.WSRefusal{Code: feishuemu.CodeWSSystemBusy}) },
			wantLine: "long conn     FAIL the long-connection endpoint is busy"},
		{name: "internal error", setup: func(e *feishuemu.Emulator) { e.RefuseWS(feishuemu.WSRefusal{Code: feishuemu.CodeWSInternalError}) },
			wantLine: "long conn     FAIL the long-connection endpoint is busy"},
		{name: "too many connections", setup: func(e *feishuemu.Emulator) { e.RefuseWS(feishuemu.WSRefusal{Code: feishuemu.CodeWSTooManyConns}) },
			wantLine: "long conn     FAIL too many long connections"},
		{name: "other code", setup: func(e *feishuemu.Emulator) { e.RefuseWS(feishuemu.WSRefusal{Code: 1000040351}) },
			wantLine: "long conn     FAIL the long-connection endpoint refused a connection"},
		{name: "endpoint down", setup: func(e *feishuemu.Emulator) {
			e.Inject(feishuemu.Fault{API: feishuemu.APIWSEndpoint, Status: http.StatusBadGateway})
		}, wantLine: "long conn     FAIL the long-connection endpoint answered HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := feishuemu.New(testkit.EmulatorOptions())
			srv := httptest.NewServer(emu)
			defer srv.Close()
			defer emu.Close()
			if tt.setup != nil {
				tt.setup(emu)
			}
			setEnv(t, srv.URL)
			t.Setenv("FEISHU_VERIFICATION_TOKEN", "")
			t.Setenv("FEISHU_MODE", "websocket")
			start := time.Now()
			code, out, errb := runCLI(t, "check", "-log-level", "error")
			if (code == 0) != tt.ok {
				t.Errorf("exit %d, want ok=%v\n%s%s", code, tt.ok, out, errb)
			}
			if !strings.Contains(out, tt.wantLine) {
				t.Errorf("output lacks %q:\n%s", tt.wantLine, out)
			}
			if strings.Count("\n"+out, "\nlong conn ") != 1 {
				t.Errorf("want one long conn line:\n%s", out)
			}
			if strings.Contains(out, "ticket=") || strings.Contains(out, testkit.AppSecret) {
				t.Errorf("check prints the URL's ticket or the secret:\n%s", out)
			}
			if n := emu.WSConnCount(); n != 0 {
				t.Errorf("check left %d long connections open", n)
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("check took %v", time.Since(start))
			}
		})
	}
	// Unreachable: one line, within the time limit.
	setEnv(t, "http://127.0.0.1:1")
	t.Setenv("FEISHU_VERIFICATION_TOKEN", "")
	t.Setenv("FEISHU_MODE", "websocket")
	code, out, _ := runCLI(t, "check", "-log-level", "error")
	if code == 0 || !strings.Contains(out, "long conn     FAIL long-connection endpoint unreachable") {
		t.Errorf("unreachable: exit %d\n%s", code, out)
	}
	// Webhook mode does not ask.
	emu := feishuemu.New(testkit.EmulatorOptions())
	srv := httptest.NewServer(emu)
	defer srv.Close()
	defer emu.Close()
	setEnv(t, srv.URL)
	if code, out, _ := runCLI(t, "check", "-log-level", "error"); code != 0 || strings.Contains(out, "long conn") || emu.CallCount(feishuemu.APIWSEndpoint) != 0 {
		t.Errorf("webhook mode: exit %d, endpoint calls %d\n%s", code, emu.CallCount(feishuemu.APIWSEndpoint), out)
	}
}

// TestSandboxModeFlag: sandbox -mode takes webhook or websocket; anything
// else is a usage error that names the flag.
func TestSandboxModeFlag(t *testing.T) {
	code, out, errb := runCLI(t, "sandbox", "-mode", "carrier-pigeon")
	if first, _, _ := strings.Cut(errb, "\n"); code != 2 || out != "" ||
		first != `okrbot sandbox: invalid value "carrier-pigeon" for flag -mode: want webhook or websocket` {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errb)
	}
	if code, out, _ := runCLI(t, "help", "sandbox"); code != 0 || !strings.Contains(out, "-mode") || !strings.Contains(out, "(default webhook)") {
		t.Errorf("help sandbox: exit %d\n%s", code, out)
	}
}

// sigtermAndWait sends this process SIGTERM, as an orchestrator stopping
// serve would, and fails t unless serve (whose exit status arrives on exit)
// ends with status 0 within 25 s; logs are shown when it does not.
func sigtermAndWait(t *testing.T, exit <-chan int, logs fmt.Stringer) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("serve exited %d\n%s", code, logs.String())
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}
