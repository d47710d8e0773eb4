// Package sandbox runs okrbot against the in-process Open Platform emulator
// with a local chat page.
package sandbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// Options configure Run.
type Options struct {
	Addr string
	Log  *slog.Logger
	Out  io.Writer
}

// Run serves the sandbox until ctx ends.
func Run(ctx context.Context, o Options) error {
	return errors.New("sandbox: not implemented yet")
}
