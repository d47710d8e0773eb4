package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 75, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.0001, 1 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.in, c.p); got != c.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
	// 1..100 ms: p99 is the 99th value, p50 the 50th.
	var hundred []time.Duration
	for i := 100; i >= 1; i-- { // unsorted: summarize sorts
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	l := summarize(hundred)
	if l.n != 100 || l.p50 != 50*time.Millisecond || l.p99 != 99*time.Millisecond || l.max != 100*time.Millisecond {
		t.Errorf("summarize(1..100 ms) = %+v", l)
	}
	if hundred[0] != 100*time.Millisecond {
		t.Error("summarize sorted its input in place")
	}
}

func TestParseProcStat(t *testing.T) {
	// A real line from /proc/<pid>/stat, with a command name holding a
	// space and a ')' to check that fields are counted from the last ')'.
	line := "4242 (okr bot) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; got != want { // (250+37) ticks of 10 ms
		t.Errorf("cpu = %v, want %v", got, want)
	}
	self, children, err := procStatTimes([]byte(line))
	if err != nil || self != 2870*time.Millisecond || children != 0 {
		t.Errorf("procStatTimes = %v, %v, %v", self, children, err)
	}
	withChildren := strings.Replace(line, " 250 37 0 0 ", " 250 37 120 5 ", 1)
	if _, children, _ := procStatTimes([]byte(withChildren)); children != 1250*time.Millisecond {
		t.Errorf("children = %v, want 1.25s", children)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s 0 0"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

func TestParseCPULine(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n"
	busy, total, err := parseCPULine([]byte(stat))
	if err != nil || busy != 161 || total != 1181 {
		t.Errorf("parseCPULine = %d, %d, %v; want 161, 1181", busy, total, err)
	}
	if _, _, err := parseCPULine([]byte("intr 1\n")); err == nil {
		t.Error("no error for a /proc/stat without a cpu line")
	}
}

func TestMetricValue(t *testing.T) {
	text := strings.Join([]string{
		"# HELP go_memstats_heap_alloc_bytes Number of heap bytes allocated and currently in use.",
		"# TYPE go_memstats_heap_alloc_bytes gauge",
		"go_memstats_heap_alloc_bytes_total 1",
		"go_memstats_heap_alloc_bytes 5.123456e+06",
		`go_gc_duration_seconds{quantile="0.5"} 3e-05`,
		"go_gc_duration_seconds_count 17",
		"",
	}, "\n")
	if v, ok := metricValue([]byte(text), "go_memstats_heap_alloc_bytes"); !ok || v != 5123456 {
		t.Errorf("heap_alloc = %v, %v", v, ok)
	}
	if v, ok := metricValue([]byte(text), "go_gc_duration_seconds_count"); !ok || v != 17 {
		t.Errorf("gc count = %v, %v", v, ok)
	}
	if _, ok := metricValue([]byte(text), "go_memstats_next_gc_bytes"); ok {
		t.Error("found a metric that is not there")
	}
}

func TestCPUModelAndMonths(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n"
	if got := cpuModel([]byte(info)); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel(nil); got != "unknown CPU" {
		t.Errorf("cpuModel(nil) = %q", got)
	}
	for i, want := range map[int]string{0: "1970-01", 11: "1970-12", 12: "1971-01", monthsAvailable - 1: "2100-12", monthsAvailable: "1970-01"} {
		if got := monthOf(i); got != want {
			t.Errorf("monthOf(%d) = %q, want %q", i, got, want)
		}
	}
	var p pairs
	seen := map[string]bool{}
	for {
		m, r, ok := p.take()
		if !ok {
			break
		}
		if seen[m+r] {
			t.Fatalf("pair %s %s handed out twice", m, r)
		}
		seen[m+r] = true
	}
	if len(seen) != monthsAvailable*len(monthlyRules) {
		t.Errorf("%d pairs, want %d", len(seen), monthsAvailable*len(monthlyRules))
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "—", 420 * time.Microsecond: "420 µs", 12340 * time.Microsecond: "12.3 ms", 250 * time.Millisecond: "250 ms"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	got := table([]string{"a", "bb"}, [][]string{{"µs", "x"}})
	want := "| a  | bb |\n| -- | -- |\n| µs | x  |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
