package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownTerminal moves this process into a process group of its own and makes
// that group the terminal's foreground group, so Ctrl-C is delivered to it
// alone. Otherwise make, in the same foreground group, gets the SIGINT too and
// dies of it (GNU make re-raises fatal signals), so a clean stop would read
// as a failure. The returned function hands the terminal back. Without a
// controlling terminal (CI, tests), or when not in the foreground, it does
// nothing.
func ownTerminal() (restore func()) {
	noop := func() {}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return noop
	}
	fd := int(tty.Fd())
	prev, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || prev != unix.Getpgrp() {
		_ = tty.Close()
		return noop
	}
	// A process outside the foreground group may take the terminal only with
	// SIGTTOU ignored; it stays ignored so that output after handing the
	// terminal back never stops the process.
	signal.Ignore(syscall.SIGTTOU)
	if unix.Setpgid(0, 0) != nil || unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()) != nil {
		_ = unix.Setpgid(0, prev)
		_ = tty.Close()
		return noop
	}
	return func() {
		_ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, prev)
		_ = tty.Close()
	}
}
