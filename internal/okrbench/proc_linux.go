package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child if the tool dies
// without stopping it, so a crashed run leaves no server behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
