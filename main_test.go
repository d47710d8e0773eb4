package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"okrbot/internal/feishuemu"
	"okrbot/internal/testkit"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "okrbot ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

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
	for _, k := range []string{"FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN", "FEISHU_ENCRYPT_KEY",
		"FEISHU_BASE_URL", "OKRBOT_DEFAULT_PERIOD_RULE_ID", "OKRBOT_OPERATORS", "OKRBOT_CHATS", "OKRBOT_ADDR"} {
		t.Setenv(k, "")
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
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("serve exited %d\n%s", code, errb.String())
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if len(emu.Periods()) != 1 || len(emu.Replies()) != 1 {
		t.Fatalf("acknowledged work not finished: %d periods, %d replies", len(emu.Periods()), len(emu.Replies()))
	}
	if !strings.Contains(errb.String(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", errb.String())
	}
}
