package sandbox

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// screenshotDir is where the browser tests leave the README's screenshots
// (sandbox.png, sandbox-390.png, sandbox-900.png, sandbox-1400.png) when
// OKRBOT_SCREENSHOT=1; otherwise they go to a temporary directory, so an
// ordinary test run leaves the work tree clean.
const screenshotDir = "../../docs"

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

// startBrowser starts a headless Chromium for t and returns the context of
// its first tab. A script error on the page fails the test. The browser
// stops when the test ends; timeout bounds the whole test.
func startBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := chromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; CI must install it (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); skipping the browser test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
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
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	watchConsole(t, bctx)
	return bctx
}

// newTab opens another tab in the browser of bctx; it closes when the test
// ends. A script error on its page fails the test.
func newTab(t *testing.T, bctx context.Context) context.Context {
	t.Helper()
	tctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	watchConsole(t, tctx)
	return tctx
}

// watchConsole fails t for every script error or console error of the tab.
// The subscription starts before the page loads, so no message is lost.
func watchConsole(t *testing.T, tctx context.Context) {
	cctx, stop := context.WithCancel(tctx)
	console := chromedp.Console(cctx)
	var (
		done sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	done.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		stop()
		done.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("page script error: %s", e)
		}
	})
}

// page drives one tab of the sandbox page.
type page struct {
	t   *testing.T
	ctx context.Context
}

// stepTimeout bounds one step, so that a step that cannot succeed fails
// alone instead of using up the whole test's time.
const stepTimeout = 20 * time.Second

// step runs actions and fails the test with the chat thread when one fails.
func (p page) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.ID("thread")))
		p.t.Fatalf("%s: %v\nthread:\n%s", name, err, html)
	}
}

// eval evaluates a JavaScript expression in the page (a promise is
// awaited).
func eval[T any](p page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %.80q: %v", js, err)
	}
	return v
}

// until waits (at most 10 s) until the JavaScript expression is true.
func (p page) until(what, js string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		p.t.Fatalf("waiting until %s: %v", what, err)
	}
}

// screenshot captures the viewport, the mouse moved out of the way; with
// OKRBOT_SCREENSHOT=1 it is written to docs/name, otherwise to a temporary
// directory.
func (p page) screenshot(name string) {
	p.t.Helper()
	p.step("move the mouse away", chromedp.MouseEvent("mouseMoved", 0, 0))
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if len(png) < 10_000 {
		p.t.Fatalf("screenshot %s is only %d bytes", name, len(png))
	}
	dir := p.t.TempDir()
	if os.Getenv("OKRBOT_SCREENSHOT") == "1" {
		dir = screenshotDir
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// XPath searches for what a person sees.
func seeTitle(s string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//div[contains(@class,"card-title")][contains(., %q)]`, s))
}

func seeButton(s string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[contains(concat(" ",@class," ")," btn ")][contains(., %q)][not(@disabled)]`, s))
}

func seeText(s string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//div[contains(@class,"md")][contains(., %q)]`, s))
}

// tokenFetched waits until the traffic panel shows the bot's first token
// request answered: from then on "Revoke token" leaves the bot with a
// revoked token.
var tokenFetched = chromedp.WaitReady(chromedp.Search(
	`//li[contains(@class,"tr")][contains(., "tenant_access_token")][contains(., "code 0")]`))

// userMessagesJS counts, on the server, the messages sent from the page.
const userMessagesJS = `fetch('/sandbox/api/state').then((r) => r.json()).then((s) => s.messages.filter((m) => !m.from_bot).length)`

func typeCommand(cmd string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SendKeys(chromedp.ID("composer-input"), cmd),
		chromedp.Click(chromedp.ID("send")),
	)
}

// TestBrowser drives the sandbox page in a real headless Chromium: it types
// /newperiod 2022-01 as the operator, picks the quarterly rule on the rule
// picker card, sees the result card; types it again and gets the conflict
// card; presses Show periods and sees the list; checks that typed markup is
// shown as text; switches the cards to Chinese and checks that Chinese is
// drawn with a CJK font. On the way it takes the screenshot of
// docs/sandbox.png (OKRBOT_SCREENSHOT=1 go test ./internal/sandbox -run
// Browser rewrites it and the three of TestBrowserLayout).
func TestBrowser(t *testing.T) {
	url := startSandbox(t) // first: it must stop after the browser (cleanups run last-in first-out)
	bctx := startBrowser(t, 60*time.Second)
	p := page{t, bctx}

	start := time.Now()
	p.step("open the page",
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(".person.active")),
		chromedp.WaitVisible(chromedp.CSS(".empty")),
	)

	p.step("create 2022-01 through the rule picker",
		typeCommand("/newperiod 2022-01"),
		chromedp.WaitVisible(seeTitle("Choose a period rule for 2022-01")),
		chromedp.Click(seeButton("Quarterly from January")),
		chromedp.WaitVisible(seeTitle("OKR period created")),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="toast"][contains(., "Period created")]`)),
		chromedp.WaitVisible(seeText("Quarterly from January")),
		chromedp.WaitVisible(chromedp.Search(`//span[contains(@class,"at-chip")][.="@Li Na"]`)),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,"tr")][contains(., "/okr/v1/periods")][contains(., "code 0")]`)),
	)

	p.step("the same month again is a conflict",
		typeCommand("/newperiod 2022-01"),
		chromedp.WaitVisible(seeTitle("Choose a period rule for 2022-01")),
		chromedp.Click(seeButton("Quarterly from January")),
		chromedp.WaitVisible(seeTitle("Create period 2022-01 failed")),
		chromedp.WaitVisible(seeText("Conflict period existed")),
		chromedp.WaitVisible(seeButton("Show periods")),
		chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,"tr")][contains(., "code 1001008")]`)),
		chromedp.WaitNotVisible(chromedp.ID("toast")),
	)
	p.screenshot("sandbox.png")

	p.step("Show periods replaces the card with the list",
		chromedp.Click(seeButton("Show periods")),
		chromedp.WaitVisible(seeTitle("OKR periods")),
		chromedp.WaitVisible(seeText("Jan - Mar 2022")),
		chromedp.WaitVisible(seeText("Oct - Dec 2021")),
	)

	// Typed markup comes back escaped in the card and is shown as text.
	const markup = `/newperiod <img src=x onerror=alert(1)> **b**`
	p.step("typed markup is shown, not run",
		typeCommand(markup),
		chromedp.WaitVisible(seeTitle("read that command")),
	)
	injected := eval[bool](p, `document.querySelectorAll('#thread img').length > 0`)
	shown := eval[bool](p,
		`[...document.querySelectorAll('#thread .card .md')].some(e => e.textContent.includes(`+strconv.Quote(markup)+`))`)
	if injected || !shown {
		t.Errorf("typed markup: injected %v, shown as text %v", injected, shown)
	}

	p.step("Chinese cards",
		chromedp.Click(chromedp.ID("lang-zh")),
		chromedp.WaitVisible(seeTitle("OKR 周期已创建")),
		chromedp.WaitVisible(seeTitle("OKR 周期")),
		chromedp.WaitVisible(seeText("季度（1 月起）")),
	)
	checkCJKFont(p)
	t.Logf("browser steps took %v", time.Since(start).Round(time.Millisecond))
}

// cjkFontJS reports, for each of a few Chinese characters, whether the
// page's font draws it as a real glyph: a full-width advance and pixels
// that differ from the empty box drawn for an unassigned code point
// (U+0378), which is what Chinese looks like without a CJK font.
const cjkFontJS = `(() => {
  const c = document.createElement('canvas');
  c.width = 48; c.height = 32;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.font = '24px ' + getComputedStyle(document.body).fontFamily;
  const draw = (s) => {
    g.clearRect(0, 0, 48, 32);
    g.fillText(s, 4, 26);
    return {w: g.measureText(s).width, px: g.getImageData(0, 0, 48, 32).data.join(',')};
  };
  const box = draw('\u0378');
  return [...'中文周期'].map((ch) => { const d = draw(ch); return {ch, width: d.w, box: d.px === box.px}; });
})()`

// checkCJKFont checks that the page draws Chinese with a CJK font, not as
// empty boxes. Without one (.ci/run installs fonts-wqy-microhei) it fails
// in CI and when writing the screenshots, and only logs otherwise.
func checkCJKFont(p page) {
	p.t.Helper()
	type glyph struct {
		Ch    string  `json:"ch"`
		Width float64 `json:"width"`
		Box   bool    `json:"box"`
	}
	var bad []string
	for _, g := range eval[[]glyph](p, cjkFontJS) {
		if g.Box || math.Abs(g.Width-24) > 2.5 {
			bad = append(bad, fmt.Sprintf("%s (%.1f px wide, empty box %v)", g.Ch, g.Width, g.Box))
		}
	}
	if len(bad) == 0 {
		return
	}
	msg := "Chinese is drawn without a CJK font, as empty boxes: " + strings.Join(bad, ", ") +
		"; install one (Debian: apt-get install fonts-wqy-microhei)"
	if os.Getenv("CI") == "true" || os.Getenv("OKRBOT_SCREENSHOT") == "1" {
		p.t.Error(msg)
	} else {
		p.t.Log(msg)
	}
}

// box is an element's place in the viewport, as the page measures it.
type box struct {
	Left   float64 `json:"left"`
	Top    float64 `json:"top"`
	Right  float64 `json:"right"`
	Bottom float64 `json:"bottom"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Shown: displayed, not visibility:hidden, not empty, and at least
	// partly inside the viewport.
	Shown bool `json:"shown"`
}

func (b box) String() string {
	if !b.Shown {
		return "hidden"
	}
	return fmt.Sprintf("x %.0f–%.0f (%.0f wide), y %.0f–%.0f", b.Left, b.Right, b.Width, b.Top, b.Bottom)
}

// overlaps reports whether two shown boxes cover a common area (more than
// a pixel's rounding).
func (b box) overlaps(o box) bool {
	return b.Shown && o.Shown && b.Left < o.Right-1 && o.Left < b.Right-1 && b.Top < o.Bottom-1 && o.Top < b.Bottom-1
}

// layout is where the page's parts are.
type layout struct {
	ViewportWidth float64 `json:"vw"`
	ScrollWidth   float64 `json:"scroll_width"` // of the document: more than the viewport is a horizontal scrollbar
	Chat          box     `json:"chat"`
	Thread        box     `json:"thread"`
	Composer      box     `json:"composer"` // the input field's frame, Send included
	Input         box     `json:"input"`
	Sidebar       box     `json:"sidebar"`
	Inspector     box     `json:"inspector"`
	ToggleSidebar box     `json:"toggle_sidebar"`
	ToggleInspect box     `json:"toggle_inspector"`
	LastCard      box     `json:"last_card"`
}

// boxJS measures an element (by id, or the element itself) as a box.
const boxJS = `(e) => {
  if (typeof e === 'string') e = document.getElementById(e);
  if (!e) return {shown: false};
  const r = e.getBoundingClientRect(), cs = getComputedStyle(e);
  return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height,
    shown: cs.display !== 'none' && cs.visibility !== 'hidden' && r.width > 0 && r.height > 0 &&
      r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight};
}`

const layoutJS = `(() => {
  const box = ` + boxJS + `;
  const cards = document.querySelectorAll('#thread .card');
  return {vw: innerWidth, scroll_width: document.documentElement.scrollWidth,
    chat: box('chat'), thread: box('thread'), composer: box('composer-box'), input: box('composer-input'),
    sidebar: box('sidebar'), inspector: box('inspector'),
    toggle_sidebar: box('toggle-sidebar'), toggle_inspector: box('toggle-inspector'),
    last_card: cards.length ? box(cards[cards.length - 1]) : {shown: false}};
})()`

func (p page) layout() layout {
	p.t.Helper()
	return eval[layout](p, layoutJS)
}

// drawerJS is true when the panel with the given id is open as a drawer:
// shown, at rest (no transform left) and entirely inside the viewport,
// with its toggle expanded and the scrim behind it.
func drawerJS(id string) string {
	return fmt.Sprintf(`(() => {
  const e = document.getElementById(%[1]q), cs = getComputedStyle(e), r = e.getBoundingClientRect();
  return cs.visibility === 'visible' && cs.transform === 'none' && r.left >= 0 && r.right <= innerWidth &&
    getComputedStyle(document.getElementById('scrim')).display !== 'none' &&
    document.getElementById('toggle-' + %[1]q).getAttribute('aria-expanded') === 'true';
})()`, id)
}

// closedJS is true when the panel with the given id is closed: hidden,
// its toggle collapsed, no scrim.
func closedJS(id string) string {
	return fmt.Sprintf(`(() => getComputedStyle(document.getElementById(%[1]q)).visibility === 'hidden' &&
  getComputedStyle(document.getElementById('scrim')).display === 'none' &&
  document.getElementById('toggle-' + %[1]q).getAttribute('aria-expanded') === 'false')()`, id)
}

// TestBrowserLayout opens the page at a phone's, a tablet's and a
// desktop's width and checks that the chat stays the main thing: wide
// enough to read, never covered by a side panel unless one is opened, the
// panels opened and closed by their toggles where they are drawers, and a
// typed command's card rendered. With OKRBOT_SCREENSHOT=1 it writes
// docs/sandbox-390.png, -900.png and -1400.png.
func TestBrowserLayout(t *testing.T) {
	bctx := startBrowser(t, 90*time.Second)

	// open starts a fresh sandbox and loads its page in a new tab at the
	// given viewport size.
	open := func(t *testing.T, w, h int64) page {
		// The sandbox first, so that it stops after the tab closes
		// (cleanups run last-in first-out): a page polling a stopped
		// sandbox logs connection errors.
		url := startSandbox(t)
		p := page{t, newTab(t, bctx)}
		p.step("open the page",
			chromedp.EmulateViewport(w, h),
			chromedp.Navigate(url),
			chromedp.WaitReady(chromedp.CSS(".person.active")),
			chromedp.WaitVisible(chromedp.CSS(".empty")),
		)
		return p
	}

	t.Run("phone 390", func(t *testing.T) {
		p := open(t, 390, 844)
		l := p.layout()
		if l.ViewportWidth != 390 {
			t.Fatalf("viewport is %v px wide, want 390", l.ViewportWidth)
		}
		if l.Sidebar.overlaps(l.Chat) || l.Inspector.overlaps(l.Chat) || l.Sidebar.Shown || l.Inspector.Shown {
			t.Errorf("at 390 px the side panels must be closed drawers: sidebar %v, inspector %v, chat %v", l.Sidebar, l.Inspector, l.Chat)
		}
		if !l.ToggleSidebar.Shown || !l.ToggleInspect.Shown {
			t.Fatalf("at 390 px both panel toggles must show: %v, %v", l.ToggleSidebar, l.ToggleInspect)
		}

		p.step("the chats panel opens as a drawer and the cards switch to Chinese in it",
			chromedp.Click(chromedp.ID("toggle-sidebar")))
		p.until("the chats panel is open", drawerJS("sidebar"))
		if l := p.layout(); !l.Sidebar.Shown || l.Sidebar.Width > 0.9*l.ViewportWidth {
			t.Errorf("open chats drawer %v: want it shown, leaving a strip of the chat visible", l.Sidebar)
		}
		p.step("switch to Chinese cards", chromedp.Click(chromedp.ID("lang-zh")))
		p.step("the scrim closes it", chromedp.MouseClickXY(380, 400))
		p.until("the chats panel is closed", closedJS("sidebar"))

		p.step("the Open Platform panel opens as a drawer", chromedp.Click(chromedp.ID("toggle-inspector")))
		p.until("the Open Platform panel is open", drawerJS("inspector"))
		p.step("the fault switches work in it",
			tokenFetched,
			chromedp.Click(chromedp.ID("fault-revoke")),
			chromedp.WaitVisible(chromedp.Search(`//span[@id="fault-text"][contains(., "Tenant token revoked")]`)),
			chromedp.KeyEvent(kb.Escape))
		p.until("Esc closes the Open Platform panel", closedJS("inspector"))
		p.until("focus is back on its toggle", `document.activeElement === document.getElementById('toggle-inspector')`)
		p.until("the toggle marks the armed fault", `!document.getElementById('toggle-fault').hidden`)

		p.step("a command typed at 390 px gets its card",
			typeCommand("/newperiod 2022-01"),
			chromedp.WaitVisible(seeTitle("为 2022-01 选择周期规则")),
			chromedp.Click(seeButton("季度（1 月起）")),
			chromedp.WaitVisible(seeTitle("OKR 周期已创建")),
			chromedp.WaitNotVisible(chromedp.ID("toast")),
		)
		p.until("the bot fetched a new token", `document.getElementById('toggle-fault').hidden`)
		l = p.layout()
		if l.Thread.Width < 300 || l.Composer.Width < 300 || l.Input.Width < 200 {
			t.Errorf("at 390 px the chat is too narrow: messages %v, composer %v, input %v", l.Thread, l.Composer, l.Input)
		}
		if !l.LastCard.Shown || l.LastCard.Width < 280 || l.LastCard.Left < 0 || l.LastCard.Right > l.ViewportWidth {
			t.Errorf("at 390 px the card %v must be at least 280 px wide and inside the viewport", l.LastCard)
		}
		if l.ScrollWidth > l.ViewportWidth {
			t.Errorf("at 390 px the page is %v px wide: it scrolls sideways", l.ScrollWidth)
		}
		if l.Sidebar.overlaps(l.Chat) || l.Inspector.overlaps(l.Chat) {
			t.Errorf("at 390 px a closed panel covers the chat: sidebar %v, inspector %v", l.Sidebar, l.Inspector)
		}
		checkCJKFont(p)
		p.screenshot("sandbox-390.png")

		p.step("choosing a chat in the drawer closes it",
			chromedp.Click(chromedp.ID("toggle-sidebar")))
		p.until("the chats panel is open", drawerJS("sidebar"))
		p.step("choose the group", chromedp.Click(chromedp.ID("chat-group")))
		p.until("the chats panel is closed", closedJS("sidebar"))
		p.until("the group chat shows", `document.getElementById('chat-title').textContent === 'HR Operations'`)
	})

	t.Run("tablet 900", func(t *testing.T) {
		p := open(t, 900, 1000)
		l := p.layout()
		if !l.Sidebar.Shown || l.Sidebar.overlaps(l.Chat) || l.Sidebar.Right > l.Chat.Left+1 {
			t.Errorf("at 900 px the chats panel must be a column beside the chat: sidebar %v, chat %v", l.Sidebar, l.Chat)
		}
		if l.Inspector.Shown || l.Inspector.overlaps(l.Chat) {
			t.Errorf("at 900 px the Open Platform panel must be a closed drawer: %v", l.Inspector)
		}
		if l.ToggleSidebar.Shown || !l.ToggleInspect.Shown {
			t.Fatalf("at 900 px only the Open Platform toggle shows: %v, %v", l.ToggleSidebar, l.ToggleInspect)
		}
		if l.Chat.Width < 600 || l.Composer.Width < 550 {
			t.Errorf("at 900 px the chat %v (composer %v) should take the rest of the width", l.Chat, l.Composer)
		}

		p.step("the Open Platform panel opens as a drawer", chromedp.Click(chromedp.ID("toggle-inspector")))
		p.until("the Open Platform panel is open", drawerJS("inspector"))
		p.step("arm a fault and close the panel with its close button",
			chromedp.SetValue(chromedp.ID("fault-code"), "1009999"),
			chromedp.Click(chromedp.ID("fault-arm")),
			chromedp.WaitVisible(chromedp.Search(`//span[@id="fault-text"][contains(., "Next create will fail: code 1009999")]`)),
			chromedp.Click(chromedp.CSS(`#inspector .drawer-close`)))
		p.until("the Open Platform panel is closed", closedJS("inspector"))

		p.step("a command typed at 900 px gets its card",
			typeCommand("/newperiod 2022-01"),
			chromedp.WaitVisible(seeTitle("Choose a period rule for 2022-01")),
			chromedp.Click(seeButton("Quarterly from January")),
			chromedp.WaitVisible(seeTitle("Create period 2022-01 failed")),
			chromedp.WaitVisible(seeButton("Retry")),
			chromedp.WaitNotVisible(chromedp.ID("toast")),
		)
		l = p.layout()
		if !l.LastCard.Shown || l.LastCard.Left < l.Chat.Left || l.LastCard.Right > l.Chat.Right {
			t.Errorf("at 900 px the card %v must be inside the chat %v", l.LastCard, l.Chat)
		}
		if l.ScrollWidth > l.ViewportWidth {
			t.Errorf("at 900 px the page is %v px wide: it scrolls sideways", l.ScrollWidth)
		}
		p.screenshot("sandbox-900.png")
	})

	t.Run("desktop 1400", func(t *testing.T) {
		p := open(t, 1400, 900)
		l := p.layout()
		if !l.Sidebar.Shown || !l.Inspector.Shown || l.Sidebar.overlaps(l.Chat) || l.Inspector.overlaps(l.Chat) ||
			l.Sidebar.Right > l.Chat.Left+1 || l.Chat.Right > l.Inspector.Left+1 {
			t.Errorf("at 1400 px want three columns side by side: sidebar %v, chat %v, inspector %v", l.Sidebar, l.Chat, l.Inspector)
		}
		if l.ToggleSidebar.Shown || l.ToggleInspect.Shown {
			t.Errorf("at 1400 px the panel toggles must not show: %v, %v", l.ToggleSidebar, l.ToggleInspect)
		}
		if l.Chat.Width < 700 {
			t.Errorf("at 1400 px the chat is only %v", l.Chat)
		}

		// A revoked token shows in the fault line until the bot has a new one.
		p.step("revoke the token",
			tokenFetched,
			chromedp.Click(chromedp.ID("fault-revoke")),
			chromedp.WaitVisible(chromedp.Search(`//span[@id="fault-text"][contains(., "Tenant token revoked")]`)),
			chromedp.WaitVisible(chromedp.Search(`//button[@id="fault-revoke"][contains(@class,"engaged")]`)),
		)
		p.step("a command typed at 1400 px gets its card, the bot renews its token",
			typeCommand("/rules"),
			chromedp.WaitVisible(seeTitle("OKR period rules")),
			chromedp.WaitVisible(chromedp.Search(`//li[contains(@class,"tr")][contains(., "code 99991663")]`)),
			chromedp.WaitVisible(chromedp.Search(`//span[@id="fault-text"][contains(., "No faults armed")]`)),
			chromedp.WaitVisible(chromedp.Search(`//button[@id="fault-revoke"][not(contains(@class,"engaged"))]`)),
		)
		p.screenshot("sandbox-1400.png")

		// Text over the limit is neither cut nor sent: the page says so.
		const limit = `document.getElementById('composer-input')`
		if eval[bool](p, limit+`.hasAttribute('maxlength')`) {
			t.Error("the input has a maxlength: the browser would cut a long paste silently")
		}
		sent := eval[int](p, userMessagesJS)
		eval[bool](p, `(() => { const i = `+limit+`; i.value = '/help ' + 'x'.repeat(1995); i.dispatchEvent(new Event('input')); return true; })()`)
		p.until("the counter says the text is too long",
			`document.getElementById('composer-count').textContent.startsWith('2,001 / 2,000 characters: 1 too many to send') &&
			 document.getElementById('send').disabled`)
		eval[bool](p, `(() => { document.getElementById('composer').requestSubmit(); return true; })()`)
		p.step("a submit says it was not sent",
			chromedp.WaitVisible(chromedp.Search(`//div[@id="toast"][contains(., "Not sent: the message has 2,001 characters, at most 2,000")]`)))
		if n := eval[int](p, limit+`.value.length`); n != 2001 {
			t.Errorf("after the refused submit the input holds %d characters, want the 2,001 typed", n)
		}
		// Characters count as the server counts them: code points, so an
		// emoji is one.
		eval[bool](p, `(() => { const i = `+limit+`; i.value = '😀'.repeat(1700); i.dispatchEvent(new Event('input')); return true; })()`)
		p.until("the counter counts code points",
			`document.getElementById('composer-count').textContent === '1,700 / 2,000 characters' && !document.getElementById('send').disabled`)
		if n := eval[int](p, userMessagesJS); n != sent {
			t.Errorf("the server has %d messages from the page after the refused send, want %d", n, sent)
		}
	})
}
