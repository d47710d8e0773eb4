package testkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a throw-away redis-server for one test: no persistence, bound to
// 127.0.0.1 on a free port, stopped when the test ends. Stop and Restart
// (on the same port) simulate an outage.
type Redis struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logs *Buffer
}

// StartRedis starts a redis-server and waits until it answers PING. Without
// redis-server on PATH the test is skipped, or fails when CI=true, so that
// CI never silently drops the Redis tests.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not on PATH (CI=true, so the Redis tests must run): %v", err)
		}
		t.Skipf("redis-server is not on PATH: %v", err)
	}
	r := &Redis{bin: bin, dir: t.TempDir()}
	t.Cleanup(r.Stop)
	// Another process may take the free port between our probe and
	// redis-server's bind; try a few ports.
	var last error
	for range 5 {
		r.port, err = freePort()
		if err != nil {
			t.Fatalf("redis: no free port: %v", err)
		}
		if last = r.start(); last == nil {
			return r
		}
	}
	t.Fatalf("redis-server did not start: %v", last)
	return nil
}

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Addr is host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// Stop stops the server (its data is lost) and waits for it to exit. It is
// safe to call when the server is already stopped.
func (r *Redis) Stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd, r.done = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Pause freezes the server (SIGSTOP): connections are still accepted by
// the kernel but nothing is answered, as when Redis hangs or the network
// drops packets. Commands sent meanwhile run once it is resumed.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGSTOP)
}

// Resume lets a paused server run again (SIGCONT).
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGCONT)
}

func (r *Redis) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if cmd == nil {
		t.Fatalf("redis-server is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal redis-server: %v", err)
	}
}

// Restart starts the server again on the same port, after Stop, and waits
// until it answers PING. It starts empty.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	var err error
	// The port was just ours; redis-server binds with SO_REUSEADDR, but give
	// a lingering socket a moment anyway.
	for range 10 {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redis-server did not restart on port %d: %v", r.port, err)
}

// Logs returns what redis-server printed, for diagnosing failures.
func (r *Redis) Logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logs == nil {
		return ""
	}
	return r.logs.String()
}

// start runs redis-server on r.port and waits until it answers PING.
func (r *Redis) start() error {
	logs := &Buffer{}
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done, r.logs = cmd, done, logs
	r.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			r.mu.Lock()
			r.cmd, r.done = nil, nil
			r.mu.Unlock()
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(logs.String()))
		default:
		}
		if ping(r.Addr()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("redis-server on port %d does not answer PING: %s", r.port, strings.TrimSpace(logs.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING in RESP and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
