// Command okrbench is okrbot's load tool. It builds okrbot, runs it as a
// separate process on loopback against an in-process Feishu Open Platform
// emulator (internal/feishuemu), configured by environment variables only,
// and prints one table:
//
//  1. the acknowledgement path: okrbot beside a gin no-op server and the
//     SDK's own webhook dispatcher (each a process of its own: this binary
//     re-executed with -role), same generator, rounds interleaved, distinct
//     signed and encrypted events; req/s, p50/p99 and CPU µs per request;
//     then okrbot with commands that produce replies;
//  2. /newperiod end to end, open loop at fixed rates: sent, replied, lost,
//     duplicate creates, event-sent → reply-arrived latency, bot CPU;
//  3. a cold burst of commands to a fresh okrbot: token, bot-info and
//     rule-list requests, beside the SDK's default client;
//  4. heap per remembered event, from okrbot's /metrics.
//
// Usage, from the repository root:
//
//	go run ./internal/okrbench          # the full run, under 3 minutes
//	go run ./internal/okrbench -quick   # a smoke run, ~35 s
//
// Everything runs on 127.0.0.1; every loop is bounded in count and time and
// the run stops itself (-max-time). docs/BENCHMARKS.md has a run's table
// and what saturates each number.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"okrbot/internal/feishuemu"
)

// The app the emulator and okrbot agree on.
const (
	appID             = feishuemu.DefaultAppID
	appSecret         = feishuemu.DefaultAppSecret
	verificationToken = "okrbenchVerifyToken7c1d"
	encryptKey        = "okrbenchEncryptKey5f0e9a2b"
	operator          = feishuemu.DefaultUserOpenID
	monthlyRuleID     = feishuemu.MonthlyRuleID
	eventPath         = "/webhook/event"
)

type config struct {
	quick     bool
	bin, repo string
	keep      bool
	only      string
	maxTime   time.Duration

	rounds   int
	roundDur time.Duration
	conc     int
	replyN   int

	rates    []int
	stepDur  time.Duration
	deadline time.Duration // reply deadline after the last send
	// strictReplies has the emulator validate and store e2e replies.
	strictReplies bool

	burst int
	heapN int

	cpuProfile string
	failOnMiss bool
}

func main() {
	var (
		cfg   config
		role  string
		addr  string
		rates string
	)
	fs := flag.NewFlagSet("okrbench", flag.ExitOnError)
	fs.StringVar(&role, "role", "", "internal: run as a comparison server ("+roleGinNoop+" or "+roleSDK+")")
	fs.StringVar(&addr, "addr", "127.0.0.1:0", "internal: listen address for -role")
	fs.BoolVar(&cfg.quick, "quick", false, "small numbers for CI or a smoke run (~35 s)")
	fs.StringVar(&cfg.bin, "bin", "", "okrbot binary to run (default: go build -o <tmp>/okrbot <repo>)")
	fs.StringVar(&cfg.repo, "repo", ".", "okrbot repository root to build from")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (okrbot logs) after the run")
	fs.StringVar(&cfg.only, "only", "ack,e2e,cold,heap", "sections to run, comma-separated")
	fs.DurationVar(&cfg.maxTime, "max-time", 170*time.Second, "stop everything after this long")
	fs.IntVar(&cfg.rounds, "rounds", 3, "ack: interleaved rounds per server")
	fs.DurationVar(&cfg.roundDur, "round", 2*time.Second, "ack: length of one server's round")
	fs.IntVar(&cfg.conc, "conc", 8, "ack: concurrent connections (closed loop)")
	fs.IntVar(&cfg.replyN, "reply-n", 3000, "ack with replies: commands sent")
	fs.StringVar(&rates, "rates", "250,500,1000,2000", "end to end: /newperiod rates per second")
	fs.DurationVar(&cfg.stepDur, "step", 3*time.Second, "end to end: length of each rate step")
	fs.DurationVar(&cfg.deadline, "reply-deadline", 5*time.Second, "end to end: a command without a reply this long after the last send is lost")
	fs.BoolVar(&cfg.strictReplies, "strict-replies", false, "end to end: the emulator validates and stores every reply card (costs the tool ~0.2 ms per command)")
	fs.IntVar(&cfg.burst, "burst", 1000, "cold burst: commands (and SDK client calls)")
	fs.IntVar(&cfg.heapN, "heap-n", 50000, "heap: remembered events")
	fs.BoolVar(&cfg.failOnMiss, "fail-on-miss", false, "exit 3 when a verdict is FAIL (default: only a section that could not run makes the exit status non-zero)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of this tool (generator and emulator) to this file")
	_ = fs.Parse(os.Args[1:])
	if role != "" {
		os.Exit(runRole(role, addr))
	}
	if cfg.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := map[string]string{
			"rounds": "1", "round": "500ms", "reply-n": "300", "rates": "250,500,1000,2000",
			"step": "1s", "burst": "1000", "heap-n": "5000", "max-time": "90s",
		}
		for k, v := range quick {
			if !set[k] {
				_ = fs.Set(k, v)
			}
		}
	}
	for f := range strings.SplitSeq(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n > 20000 {
			fmt.Fprintf(os.Stderr, "okrbench: -rates: %q is not a rate in 1..20000\n", f)
			os.Exit(2)
		}
		cfg.rates = append(cfg.rates, n)
	}
	if cfg.rounds < 1 || cfg.rounds > 20 || cfg.conc < 1 || cfg.conc > 256 || cfg.burst < 1 || cfg.burst > 5000 ||
		cfg.heapN < 100 || cfg.heapN > 200000 || cfg.replyN < 1 || cfg.replyN > 50000 ||
		cfg.roundDur <= 0 || cfg.roundDur > 30*time.Second || cfg.stepDur <= 0 || cfg.stepDur > 30*time.Second {
		fmt.Fprintln(os.Stderr, "okrbench: a flag is out of range (rounds 1..20, conc 1..256, burst 1..5000, heap-n 100..200000, reply-n 1..50000, round/step ≤ 30s)")
		os.Exit(2)
	}
	os.Exit(run(cfg))
}

// runner holds what the sections share.
type runner struct {
	cfg   config
	tmp   string
	bin   string
	g     *gen
	rows  [][]string
	notes []string
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "okrbench: "+format+"\n", args...)
}

func run(cfg config) int {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.maxTime)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The emulator delivers events with http.DefaultTransport; at 2,000/s
	// it must keep its connections rather than open one per event.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 2048, 1024
	}

	tmp, err := os.MkdirTemp("", "okrbench-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	if cfg.keep {
		logf("logs kept in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	r := &runner{cfg: cfg, tmp: tmp, g: newGen()}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			logf("%v", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			logf("%v", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	r.bin = cfg.bin
	if r.bin == "" {
		r.bin = filepath.Join(tmp, "okrbot")
		logf("building okrbot: go build -o %s %s", r.bin, cfg.repo)
		bctx, bcancel := context.WithTimeout(ctx, 120*time.Second)
		cmd := exec.CommandContext(bctx, "go", "build", "-o", r.bin, ".")
		cmd.Dir = cfg.repo
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		err := cmd.Run()
		bcancel()
		if err != nil {
			logf("go build failed: %v", err)
			return 1
		}
	}

	sections := []struct {
		name string
		f    func(context.Context) error
	}{
		{"ack", r.ackSection},
		{"e2e", r.e2eSection},
		{"cold", r.coldSection},
		{"heap", r.heapSection},
	}
	failed := false
	for _, s := range sections {
		if !strings.Contains(","+cfg.only+",", ","+s.name+",") {
			continue
		}
		if ctx.Err() != nil {
			r.notes = append(r.notes, fmt.Sprintf("%s: not run (%v)", s.name, context.Cause(ctx)))
			continue
		}
		logf("section %s", s.name)
		t0 := time.Now()
		m0 := sampleMachine()
		if err := s.f(ctx); err != nil {
			failed = true
			logf("%s: %v", s.name, err)
			r.notes = append(r.notes, fmt.Sprintf("%s: %v", s.name, firstLine(err.Error())))
		}
		if other, ok := otherLoad(m0, sampleMachine()); ok {
			r.notes = append(r.notes, fmt.Sprintf("%s: %s; processes outside this run used %.2f of the %d cores on average (%s)",
				s.name, time.Since(t0).Round(100*time.Millisecond), other, runtime.NumCPU(), loadavg()))
		}
	}

	fmt.Print(r.header(started))
	fmt.Println()
	fmt.Print(table([]string{"section", "case", "throughput", "p50", "p99", "CPU", "detail", "target", "verdict"}, r.rows))
	for _, n := range r.notes {
		fmt.Println("note:", n)
	}
	fmt.Printf("\ntotal %s\n", time.Since(started).Round(100*time.Millisecond))
	if failed {
		return 1
	}
	if cfg.failOnMiss {
		for _, row := range r.rows {
			if row[len(row)-1] == "FAIL" {
				return 3
			}
		}
	}
	return 0
}

// machineSample is the machine's busy CPU time and this run's share of it
// (the tool plus the children it has waited for: every server a section
// started is stopped and reaped before the section returns).
type machineSample struct {
	busy uint64 // ticks, all CPUs
	own  time.Duration
	at   time.Time
	ok   bool
}

func sampleMachine() machineSample {
	st, err1 := os.ReadFile("/proc/stat")
	ps, err2 := os.ReadFile("/proc/self/stat")
	if err1 != nil || err2 != nil {
		return machineSample{}
	}
	busy, _, err1 := parseCPULine(st)
	self, children, err2 := procStatTimes(ps)
	return machineSample{busy: busy, own: self + children, at: time.Now(), ok: err1 == nil && err2 == nil}
}

// otherLoad is the average number of cores that processes outside this run
// kept busy between a and b.
func otherLoad(a, b machineSample) (float64, bool) {
	if !a.ok || !b.ok || !b.at.After(a.at) {
		return 0, false
	}
	busy := time.Duration(b.busy-a.busy) * time.Second / clockTicks
	other := max(busy-(b.own-a.own), 0)
	return other.Seconds() / b.at.Sub(a.at).Seconds(), true
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (r *runner) header(started time.Time) string {
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	rev := "unknown"
	if out, err := exec.Command("git", "-C", r.cfg.repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
		if out, err := exec.Command("git", "-C", r.cfg.repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(out) > 0 {
			rev += "+dirty"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "okrbench  %s  okrbot %s\n", started.Format("2006-01-02 15:04 MST"), rev)
	fmt.Fprintf(&b, "machine: nproc %d, %s, Linux %s, %s %s/%s; every process GOMAXPROCS=%d, GOGC default\n",
		runtime.NumCPU(), cpuModel(cpuinfo), strings.TrimSpace(string(kernel)), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	c := r.cfg
	fmt.Fprintf(&b, "run: ack %d×%s per server, %d connections, %d commands with replies; e2e %v/s × %s, reply deadline %s; burst %d; heap %d events\n",
		c.rounds, c.roundDur, c.conc, c.replyN, c.rates, c.stepDur, c.deadline, c.burst, c.heapN)
	b.WriteString("the generator and the emulator share the machine with the server under test (loopback, no network)\n")
	return b.String()
}

func (r *runner) row(cells ...string) { r.rows = append(r.rows, cells) }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func rateStr(v float64) string { return thousands(int64(v+0.5)) + "/s" }

// cpuPer formats CPU time per unit: "87 µs/req".
func cpuPer(cpu time.Duration, n int, unit string) string {
	if cpu < 0 || n <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f µs/%s", float64(cpu.Microseconds())/float64(n), unit)
}
