package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ), 100 on Linux.
const clockTick = 10 * time.Millisecond

// cpuTimes is a process's CPU time used so far, read at a moment.
type cpuTimes struct {
	user, sys time.Duration
	at        time.Time
}

// procCPU reads the user and system CPU time of pid ("self" for this
// process) from /proc.
func procCPU(pid string) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseStat(string(b), time.Now())
}

// parseStat reads utime and stime, fields 14 and 15 of /proc/<pid>/stat;
// the command name, field 2, may hold spaces and parentheses.
func parseStat(s string, at time.Time) (cpuTimes, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("malformed stat %q", s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, fmt.Errorf("malformed stat %q", s)
	}
	return cpuTimes{user: time.Duration(u) * clockTick, sys: time.Duration(k) * clockTick, at: at}, nil
}

// CPU is the CPU time spent during a run's measured window.
type CPU struct {
	// BrokerUser and BrokerSys are the broker subprocess's CPU time per
	// broker answer, in microseconds; BrokerCores its mean utilization.
	BrokerUser  float64 `json:"brokerUserPerRequest_us,omitempty"`
	BrokerSys   float64 `json:"brokerSysPerRequest_us,omitempty"`
	BrokerCores float64 `json:"brokerCores,omitempty"`
	// HarnessCores is this process: load generator and upstream, and the
	// broker too when it runs in process.
	HarnessCores float64 `json:"harnessCores"`
}

// cpuMeter measures the broker's and this process's CPU over a window.
type cpuMeter struct {
	pid          int
	broker, self cpuTimes
}

func (m *cpuMeter) start() {
	m.self, _ = procCPU("self")
	if m.pid != 0 {
		m.broker, _ = procCPU(strconv.Itoa(m.pid))
	}
}

// stop returns the CPU used since start; answers is how many broker
// requests were answered in the window.
func (m *cpuMeter) stop(answers int) *CPU {
	if m.self.at.IsZero() {
		return nil
	}
	cores := func(a, b cpuTimes) float64 {
		wall := b.at.Sub(a.at)
		if wall <= 0 {
			return 0
		}
		return round2(float64(b.user+b.sys-a.user-a.sys) / float64(wall))
	}
	out := &CPU{}
	if self, err := procCPU("self"); err == nil {
		out.HarnessCores = cores(m.self, self)
	}
	if m.pid != 0 && !m.broker.at.IsZero() {
		if b, err := procCPU(strconv.Itoa(m.pid)); err == nil && answers > 0 {
			out.BrokerCores = cores(m.broker, b)
			out.BrokerUser = round1(float64(b.user-m.broker.user) / 1e3 / float64(answers))
			out.BrokerSys = round1(float64(b.sys-m.broker.sys) / 1e3 / float64(answers))
		}
	}
	return out
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
