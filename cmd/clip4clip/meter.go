package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// meter shows how far a long command is, on stderr. On a terminal it is
// one line rewritten in place, at most 5 times a second, with the rate and
// the time left; otherwise (a log, a pipe) it prints a plain line every
// meterEvery, so that a log of a long run says how far it got without
// filling with carriage returns. finish prints the last line.
type meter struct {
	what  string // "embedding clips"
	unit  string // "clips"
	total int    // 0 when unknown
	w     io.Writer
	tty   bool
	every time.Duration

	mu      sync.Mutex
	done    int
	start   time.Time
	last    time.Time // of the last line printed
	printed bool      // a line is on screen (tty)
}

// meterEvery is how often a meter prints a line when stderr is not a terminal.
const meterEvery = 5 * time.Second

func newMeter(what, unit string, total int) *meter {
	st, err := os.Stderr.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	every := meterEvery
	if tty {
		every = 200 * time.Millisecond
	}
	now := time.Now()
	return &meter{what: what, unit: unit, total: total, w: os.Stderr, tty: tty, every: every, start: now, last: now}
}

// add counts n more units done.
func (m *meter) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	if now := time.Now(); now.Sub(m.last) >= m.every {
		m.last = now
		m.print(m.line(now))
	}
}

// printf prints a message on its own line (above the meter's, on a terminal).
func (m *meter) printf(format string, a ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.printed {
		fmt.Fprint(m.w, "\r\033[K")
		m.printed = false
	}
	fmt.Fprintf(m.w, format, a...)
}

// finish prints how much was done in how long.
func (m *meter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	elapsed := time.Since(m.start)
	m.print(fmt.Sprintf("%s: %d %s in %s", m.what, m.done, m.unit, roundDuration(elapsed)))
	if m.tty {
		fmt.Fprintln(m.w)
		m.printed = false
	}
}

func (m *meter) print(line string) {
	if m.tty {
		fmt.Fprintf(m.w, "\r\033[K%s", line)
		m.printed = true
		return
	}
	fmt.Fprintln(m.w, line)
}

// line is "what: done/total unit (p%), rate/s, about T left".
func (m *meter) line(now time.Time) string {
	elapsed := now.Sub(m.start)
	s := fmt.Sprintf("%s: %d", m.what, m.done)
	if m.total > 0 {
		s += fmt.Sprintf("/%d %s (%.0f%%)", m.total, m.unit, 100*float64(m.done)/float64(m.total))
	} else {
		s += " " + m.unit
	}
	if sec := elapsed.Seconds(); sec > 0 && m.done > 0 {
		rate := float64(m.done) / sec
		s += fmt.Sprintf(", %.3g %s/s", rate, m.unit)
		if m.total > m.done {
			s += fmt.Sprintf(", about %s left", roundDuration(time.Duration(float64(m.total-m.done)/rate*float64(time.Second))))
		}
	}
	return s
}

// roundDuration rounds d to what a person reads: 0.4s, 12s, 3m05s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// count is "1 video", "3 videos": n with the noun, plural after any other
// number than 1 (a consonant and y take -ies; s, x, ch and sh take -es).
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	for _, end := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			return fmt.Sprintf("%d %ses", n, noun)
		}
	}
	if strings.HasSuffix(noun, "y") && !strings.ContainsAny(noun[len(noun)-2:len(noun)-1], "aeiou") {
		return fmt.Sprintf("%d %sies", n, noun[:len(noun)-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// byteSize is n bytes in the unit that fits: 184 bytes, 10.2 kB, 53.1 MB, 5.00 GB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return count(int(n), "byte")
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
