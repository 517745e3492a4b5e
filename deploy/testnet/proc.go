package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a program the harness started. Pid plus Start (the kernel's
// start time of the pid) identify it across commands: `testnet down` only
// signals a pid whose start time still matches, so a pid reused by an
// unrelated program after a reboot or crash is never touched.
type process struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`

	// exited is closed once our own child has been reaped; nil for a
	// process adopted from the state file, which is polled via /proc.
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

// startProcess starts cmd in ns and reaps it in the background.
func startProcess(ns *Namespace, cmd *exec.Cmd) (*process, error) {
	if err := ns.Start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	p := &process{Pid: cmd.Process.Pid, exited: make(chan struct{})}
	// The pid cannot be reused before Wait below reaps it, so this reads
	// the right process even if it already died.
	st, _, err := procStat(p.Pid)
	if err == nil {
		p.Start = st
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// procStat returns the start time and state letter of pid from
// /proc/PID/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) is in parentheses and may hold spaces: split after
	// the last ')'. Then fields[0] is field 3 (state), fields[19] field 22
	// (starttime).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	return start, fields[0][0], nil
}

// alive reports whether the process is still running.
func (p *process) alive() bool {
	if p == nil || p.Pid <= 0 {
		return false
	}
	if p.exited != nil {
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	start, state, err := procStat(p.Pid)
	return err == nil && start == p.Start && state != 'Z'
}

// signal sends sig if the process is still the one we started.
func (p *process) signal(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -%d %d: %w", sig, p.Pid, err)
	}
	return nil
}

// wait blocks until the process has exited or ctx ends.
func (p *process) wait(ctx context.Context) error {
	if p.exited != nil {
		select {
		case <-p.exited:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("pid %d still running: %w", p.Pid, ctx.Err())
		}
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for p.alive() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("pid %d still running: %w", p.Pid, ctx.Err())
		}
	}
	return nil
}

// stopProcesses sends SIGTERM to all at once (i2pd needs ~2 s each, in
// parallel), waits up to grace, then SIGKILLs the rest and waits for them.
func stopProcesses(ps []*process, grace time.Duration) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.signal(syscall.SIGTERM))
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, p := range ps {
		if p.wait(ctx) == nil {
			continue
		}
		errs = append(errs, p.signal(syscall.SIGKILL))
	}
	kctx, kcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer kcancel()
	for _, p := range ps {
		errs = append(errs, p.wait(kctx))
	}
	return errors.Join(errs...)
}
