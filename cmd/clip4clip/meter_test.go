package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMeterLog: off a terminal a meter prints plain lines (no carriage
// returns or escapes) with the total and the time left, at most one per
// interval, and a last line with the count and the time taken.
func TestMeterLog(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		lines int // 10 adds, a note and the last line
	}{{0, 12}, {time.Hour, 2}} {
		var b bytes.Buffer
		m := newMeter("embedding clips", "clips", 100)
		m.w, m.tty, m.every = &b, false, tc.every
		for range 10 {
			m.add(5)
		}
		m.printf("a note\n")
		m.finish()
		out := b.String()
		if strings.ContainsAny(out, "\r\033") {
			t.Errorf("carriage returns or escapes in a log:\n%q", out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != tc.lines {
			t.Errorf("every %v: %d lines, want %d:\n%s", tc.every, len(lines), tc.lines, out)
		}
		if tc.every == 0 && (!strings.HasPrefix(lines[0], "embedding clips: 5/100 clips (5%)") || !strings.Contains(lines[0], "left")) {
			t.Errorf("a progress line without the total or the time left: %q", lines[0])
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "embedding clips: 50 clips in ") {
			t.Errorf("last line %q", last)
		}
	}
}

// TestMeterTerminal: on a terminal the line is rewritten in place and a
// message clears it first.
func TestMeterTerminal(t *testing.T) {
	var b bytes.Buffer
	m := newMeter("indexing", "videos", 2)
	m.w, m.tty, m.every = &b, true, 0
	m.add(1)
	m.printf("skipped x\n")
	m.add(1)
	m.finish()
	want := "\r\033[Kindexing: 1/2 videos (50%)"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got %q, want it to start %q", b.String(), want)
	}
	if !strings.Contains(b.String(), "\r\033[Kskipped x\n") || !strings.HasSuffix(b.String(), "\n") {
		t.Errorf("got %q", b.String())
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{400 * time.Millisecond: "400ms", 12400 * time.Millisecond: "12s", 185 * time.Second: "3m05s"} {
		if got := roundDuration(d); got != want {
			t.Errorf("roundDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCountAndByteSize(t *testing.T) {
	for got, want := range map[string]string{
		count(1, "video"): "1 video", count(0, "video"): "0 videos", count(2, "moment"): "2 moments", count(3, "entry"): "3 entries", count(2, "day"): "2 days", count(2, "index"): "2 indexes",
		byteSize(1): "1 byte", byteSize(184): "184 bytes", byteSize(10240): "10.2 kB", byteSize(53_100_000): "53.1 MB", byteSize(5_000_000_000): "5.00 GB",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
