package broker

import (
	"net/netip"
	"sync"
	"time"
)

// failureLimiter counts failed authentications per source address in fixed
// windows. It is bounded: when it tracks too many addresses it forgets the
// expired ones, and if all are live it forgets everything rather than grow.
type failureLimiter struct {
	max    int
	window time.Duration
	now    Clock

	mu    sync.Mutex
	addrs map[netip.Addr]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

const maxTrackedAddrs = 65536

func newFailureLimiter(max int, window time.Duration, now Clock) *failureLimiter {
	if max <= 0 {
		max = 20
	}
	if window <= 0 {
		window = time.Minute
	}
	return &failureLimiter{max: max, window: window, now: now, addrs: make(map[netip.Addr]*failWindow)}
}

// allow reports whether addr may try to authenticate.
func (l *failureLimiter) allow(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.addrs[addr]
	if w == nil {
		return true
	}
	if l.now().Sub(w.start) >= l.window {
		delete(l.addrs, addr)
		return true
	}
	return w.n < l.max
}

// fail records a failed authentication from addr.
func (l *failureLimiter) fail(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.addrs[addr]
	if w == nil || now.Sub(w.start) >= l.window {
		if len(l.addrs) >= maxTrackedAddrs {
			l.sweep(now)
		}
		w = &failWindow{start: now}
		l.addrs[addr] = w
	}
	w.n++
}

func (l *failureLimiter) sweep(now time.Time) {
	for a, w := range l.addrs {
		if now.Sub(w.start) >= l.window {
			delete(l.addrs, a)
		}
	}
	if len(l.addrs) >= maxTrackedAddrs {
		clear(l.addrs)
	}
}
