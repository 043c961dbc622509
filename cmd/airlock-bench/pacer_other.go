//go:build !linux

package main

import "time"

// pacer sleeps until the next scheduled send, with the runtime's timers.
type pacer struct{}

func (pacer) lock() {}

func (pacer) sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
