package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, or 0 when it is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencies summarises a sample of durations.
type latencies struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	l := latencies{n: len(s), p50: percentile(s, 50), p99: percentile(s, 99)}
	if len(s) > 0 {
		l.max = s[len(s)-1]
	}
	return l
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseProcStat returns utime+stime (all threads, live and exited) from the
// contents of /proc/<pid>/stat. The command name (field 2) may hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	self, _, err := procStatTimes(b)
	return self, err
}

// procStatTimes returns utime+stime (fields 14, 15) and cutime+cstime
// (fields 16, 17: children waited for) of a /proc/<pid>/stat.
func procStatTimes(b []byte) (self, children time.Duration, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("/proc stat: %d fields after the command name, want ≥ 15", len(f))
	}
	var t [4]uint64
	for k := range t {
		if t[k], err = strconv.ParseUint(f[11+k], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc stat: field %d: %w", 14+k, err)
		}
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return tick(t[0] + t[1]), tick(t[2] + t[3]), nil
}

// parseCPULine returns the busy and total ticks of the "cpu" line of
// /proc/stat (busy = all but idle and iowait; guest time is already inside
// user).
func parseCPULine(stat []byte) (busy, total uint64, err error) {
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for k, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		total += n
		if k != 3 && k != 4 {
			busy += n
		}
	}
	return busy, total, nil
}

// metricValue returns the value of an unlabelled sample named name in a
// Prometheus text exposition.
func metricValue(text []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	for line := range strings.SplitSeq(string(cpuinfo), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// monthOf returns the i-th month from 1970-01, wrapping within 1970–2100
// (1,572 months), as "YYYY-MM".
func monthOf(i int) string {
	const months = (2100 - 1970 + 1) * 12
	i %= months
	return fmt.Sprintf("%04d-%02d", 1970+i/12, i%12+1)
}

// monthsAvailable is how many distinct months monthOf yields.
const monthsAvailable = (2100 - 1970 + 1) * 12

// fmtDur prints a latency compactly: µs below 1 ms, ms with one decimal
// below 100 ms.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
}

// thousands formats n with thin separators: 12345 → "12,345".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// table renders rows as a Markdown table with padded columns, so that it
// reads in a terminal and pastes into a document unchanged.
func table(head []string, rows [][]string) string {
	w := make([]int, len(head))
	width := func(s string) int { return len([]rune(s)) }
	for i, h := range head {
		w[i] = width(h)
	}
	for _, r := range rows {
		for i := range min(len(r), len(w)) {
			w[i] = max(w[i], width(r[i]))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range w {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			b.WriteString(" " + c + strings.Repeat(" ", w[i]-width(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	b.WriteString("|")
	for i := range w {
		b.WriteString(" " + strings.Repeat("-", w[i]) + " |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
