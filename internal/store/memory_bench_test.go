package store_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"okrbot/internal/store"
)

// BenchmarkMemoryClaim claims fresh events (two keys each, as the bot
// does) from parallel goroutines.
func BenchmarkMemoryClaim(b *testing.B) {
	m := store.NewMemory(nil)
	defer m.Close()
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(seq.Add(1), 10)
			if ok, err := m.Claim(ctx, dedupTTL, "event:ev_"+id, "message:om_"+id); !ok || err != nil {
				b.Fatalf("claim of a fresh event = %v, %v", ok, err)
			}
		}
	})
}

// BenchmarkMemoryClaimDuplicate claims an event already held: what a
// redelivery costs.
func BenchmarkMemoryClaimDuplicate(b *testing.B) {
	m := store.NewMemory(nil)
	defer m.Close()
	ctx := context.Background()
	if ok, _ := m.Claim(ctx, dedupTTL, "event:ev_1", "message:om_1"); !ok {
		b.Fatal("first claim lost")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _ := m.Claim(ctx, dedupTTL, "event:ev_1", "message:om_1"); ok {
				b.Fatal("a held event was claimed again")
			}
		}
	})
}

// BenchmarkMemoryFootprint reports the heap a remembered event takes once
// a million are held ("event:<id>" and "message:<id>", as the bot claims).
// Run it with -benchtime=1x; it is a measurement, not a timing.
func BenchmarkMemoryFootprint(b *testing.B) {
	const events = 1_000_000
	ctx := context.Background()
	now := func() time.Time { return time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC) }
	var perEvent float64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		m := store.NewMemory(now)
		for i := range events {
			// Feishu's ids have these shapes and lengths.
			id := strconv.FormatInt(7_300_000_000_000_000_000+int64(i), 16)
			if ok, _ := m.Claim(ctx, dedupTTL, "event:"+id+"5b1c2e3f4a5b6c7d", "message:om_"+id+"a0b1c2d3e4f5a6b7"); !ok {
				b.Fatalf("event %d: claim lost", i)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := m.Len(); n != 2*events {
			b.Fatalf("Len = %d, want %d", n, 2*events)
		}
		perEvent = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / events
		_ = m.Close()
		b.StartTimer()
	}
	b.ReportMetric(perEvent, "B/event")
}
