package main

import (
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// pacer sleeps until the next scheduled send. The Go runtime's timers
// wake sub-millisecond sleeps up to a millisecond late on Linux, which
// would add that much to every latency measured from the schedule; a
// nanosleep on a locked thread with a minimal timer slack wakes within
// tens of microseconds, without spinning a core.
type pacer struct{}

// lock binds the calling goroutine to its thread for precise sleeps; call
// it first on the goroutine that paces. The thread is never unlocked: it
// ends with the goroutine, so its timer slack goes with it.
func (pacer) lock() {
	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
}

func (pacer) sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	syscall.Nanosleep(&ts, nil)
}
