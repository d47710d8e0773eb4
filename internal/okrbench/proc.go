package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the tool started: okrbot or one of its own
// server roles.
type proc struct {
	name    string
	cmd     *exec.Cmd
	addr    string // host:port it listens on
	logPath string
	log     *os.File
	done    chan struct{} // closed when the process has exited
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// cpu returns the CPU time (user+system, every thread) the process has used.
func (p *proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// mustCPU is cpu for the measurements: an unreadable /proc is reported as
// -1 and shows as "—" in the table.
func (p *proc) mustCPU() time.Duration {
	d, err := p.cpu()
	if err != nil {
		logf("%s: reading /proc/%d/stat: %v", p.name, p.pid(), err)
		return -1
	}
	return d
}

// selfCPU is the tool's own CPU time (generator and emulator), -1 when
// /proc is unreadable.
func selfCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	d, err := parseProcStat(b)
	if err != nil {
		return -1
	}
	return d
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs. It only ever
// signals this process's own pid.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	if p.log != nil {
		_ = p.log.Close()
	}
}

// tail returns the last n bytes of the process's log, for error messages.
func (p *proc) tail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(b, off)
	return strings.TrimSpace(string(b))
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (okrbot takes its address from the environment, so the port must be
// chosen before it starts).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// cleanEnv is the tool's environment without any okrbot or Feishu setting,
// so that nothing from the caller's shell leaks into the bot under test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FEISHU_") || strings.HasPrefix(kv, "OKRBOT_") || strings.HasPrefix(kv, "GOGC=") ||
			strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GODEBUG=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *proc) start() error {
	setParentDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// startOkrbot runs `okrbot serve` from an empty directory (so no
// config.toml is picked up), configured by environment variables only.
func startOkrbot(ctx context.Context, r *runner, name, baseURL string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(r.tmp, name+"-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(r.tmp, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"FEISHU_APP_ID="+appID,
		"FEISHU_APP_SECRET="+appSecret,
		"FEISHU_VERIFICATION_TOKEN="+verificationToken,
		"FEISHU_ENCRYPT_KEY="+encryptKey,
		"FEISHU_BASE_URL="+baseURL,
		"OKRBOT_ADDR="+addr,
		"OKRBOT_OPERATORS="+operator,
		"OKRBOT_DEFAULT_PERIOD_RULE_ID="+monthlyRuleID,
	)
	cmd.Stdout, cmd.Stderr = lf, lf
	p := &proc{name: name, cmd: cmd, addr: addr, logPath: logPath, log: lf}
	if err := p.start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start okrbot: %w", err)
	}
	if err := waitHTTP(ctx, p, "/readyz", 20*time.Second); err != nil {
		p.stop(2 * time.Second)
		return nil, fmt.Errorf("%s not ready: %w\n--- log tail ---\n%s", name, err, p.tail(2000))
	}
	return p, nil
}

// startRole re-executes this tool's binary as one of its comparison servers.
// The child prints "LISTEN host:port" on stdout once it accepts; everything
// else it writes goes to its log file.
func startRole(ctx context.Context, r *runner, role string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(r.tmp, role+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-role", role, "-addr", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = lf.Close()
		return nil, err
	}
	p := &proc{name: role, cmd: cmd, logPath: logPath, log: lf}
	if err := p.start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	addrc := make(chan string, 1)
	var once sync.Once
	go func() {
		// The SDK logs to stdout; keep reading so the child never blocks.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "LISTEN "); ok {
				once.Do(func() { addrc <- strings.TrimSpace(a) })
				continue
			}
			_, _ = io.WriteString(lf, line+"\n")
		}
	}()
	select {
	case p.addr = <-addrc:
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening:\n%s", role, p.tail(2000))
	case <-time.After(15 * time.Second):
		p.stop(time.Second)
		return nil, fmt.Errorf("%s did not listen within 15 s", role)
	case <-ctx.Done():
		p.stop(time.Second)
		return nil, ctx.Err()
	}
	if err := waitHTTP(ctx, p, "/healthz", 10*time.Second); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	return p, nil
}

// waitHTTP polls GET path on the process until it answers 200.
func waitHTTP(ctx context.Context, p *proc, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	last := errors.New("no answer yet")
	for {
		if p.exited() {
			return fmt.Errorf("the process exited (%v)", p.cmd.ProcessState)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %w (last: %v)", path, ctx.Err(), last)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
