//go:build !linux

package main

import "os/exec"

// setParentDeathSignal has no portable equivalent; the tool stops its
// children itself.
func setParentDeathSignal(*exec.Cmd) {}
