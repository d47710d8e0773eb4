package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshotPath is where the browser test leaves the README's screenshot
// when OKRBOT_SCREENSHOT=1; otherwise it goes to a temporary directory, so
// an ordinary test run leaves the work tree clean.
const screenshotPath = "../../docs/sandbox.png"

// chromium returns the path of a Chromium (or Chrome) binary, or "".
func chromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser drives the sandbox page in a real headless Chromium: it types
// /newperiod 2022-01 as the operator, picks the quarterly rule on the rule
// picker card, sees the result card; types it again and gets the conflict
// card; presses Show periods and sees the list; checks that typed markup is
// shown as text; switches the cards to Chinese. On the way it takes the
// screenshot of docs/sandbox.png (OKRBOT_SCREENSHOT=1 go test
// ./internal/sandbox -run Browser rewrites that file).
func TestBrowser(t *testing.T) {
	path := chromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); skipping the browser test")
	}
	url := startSandbox(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// Any script error on the page fails the test. The subscription starts
	// before the page loads, so no message is lost.
	console := chromedp.Console(bctx)
	var consoleDone sync.WaitGroup
	var jsErrors []string
	cctx, stopConsole := context.WithCancel(bctx)
	consoleDone.Go(func() {
		for m, err := range console {
			if err != nil || cctx.Err() != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				jsErrors = append(jsErrors, m.String())
			}
		}
	})
	defer func() {
		stopConsole()
		cancelBrowser()
		consoleDone.Wait()
		for _, e := range jsErrors {
			t.Errorf("page script error: %s", e)
		}
	}()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.ID("thread")))
			t.Fatalf("%s: %v\nthread:\n%s", name, err, html)
		}
	}
	// XPath searches for what a person sees.
	title := func(s string) chromedp.Search {
		return chromedp.Search(fmt.Sprintf(`//div[contains(@class,"card-title")][contains(., %q)]`, s))
	}
	button := func(s string) chromedp.Search {
		return chromedp.Search(fmt.Sprintf(`//button[contains(concat(" ",@class," ")," btn ")][contains(., %q)][not(@disabled)]`, s))
	}
	text := func(s string) chromedp.Search {
		return chromedp.Search(fmt.Sprintf(`//div[contains(@class,"md")][contains(., %q)]`, s))
	}
	typeCommand := func(cmd string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SendKeys(chromedp.ID("composer-input"), cmd),
			chromedp.Click(chromedp.ID("send")),
		)
	}

	start := time.Now()
	step("open the page",
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(".person.active")),
		chromedp.WaitVisible(chromedp.CSS(".empty")),
	)

	step("create 2022-01 through the rule picker",
		typeCommand("/newperiod 2022-01"),
		chromedp.WaitVisible(title("Choose a period rule for 2022-01")),
		chromedp.Click(button("Quarterly from January")),
		chromedp.WaitVisible(title("OKR period created")),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="toast"][contains(., "Period created")]`)),
		chromedp.WaitVisible(text("Quarterly from January")),
		chromedp.WaitVisible(chromedp.Search(`//span[contains(@class,"at-chip")][.="@Li Na"]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,"tr")][contains(., "/okr/v1/periods")][contains(., "code 0")]`)),
	)

	step("the same month again is a conflict",
		typeCommand("/newperiod 2022-01"),
		chromedp.WaitVisible(title("Choose a period rule for 2022-01")),
		chromedp.Click(button("Quarterly from January")),
		chromedp.WaitVisible(title("Create period 2022-01 failed")),
		chromedp.WaitVisible(text("Conflict period existed")),
		chromedp.WaitVisible(button("Show periods")),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,"tr")][contains(., "code 1001008")]`)),
		chromedp.WaitNotVisible(chromedp.ID("toast")),
	)

	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 10_000 {
		t.Fatalf("screenshot is only %d bytes", len(png))
	}
	shot := filepath.Join(t.TempDir(), "sandbox.png")
	if os.Getenv("OKRBOT_SCREENSHOT") == "1" {
		shot = screenshotPath
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}

	step("Show periods replaces the card with the list",
		chromedp.Click(button("Show periods")),
		chromedp.WaitVisible(title("OKR periods")),
		chromedp.WaitVisible(text("Jan - Mar 2022")),
		chromedp.WaitVisible(text("Oct - Dec 2021")),
	)

	// Typed markup comes back escaped in the card and is shown as text.
	const markup = `/newperiod <img src=x onerror=alert(1)> **b**`
	step("typed markup is shown, not run",
		typeCommand(markup),
		chromedp.WaitVisible(title("read that command")),
	)
	injected, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelectorAll('#thread img').length > 0`))
	if err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[bool](
		`[...document.querySelectorAll('#thread .card .md')].some(e => e.textContent.includes(`+strconv.Quote(markup)+`))`))
	if err != nil {
		t.Fatal(err)
	}
	if injected || !shown {
		t.Errorf("typed markup: injected %v, shown as text %v", injected, shown)
	}

	step("Chinese cards",
		chromedp.Click(chromedp.ID("lang-zh")),
		chromedp.WaitVisible(title("OKR 周期已创建")),
		chromedp.WaitVisible(title("OKR 周期")),
		chromedp.WaitVisible(text("季度（1 月起）")),
	)
	t.Logf("browser steps took %v", time.Since(start).Round(time.Millisecond))
}
