package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"okrbot/bot"
)

// auditFile writes each audit record to the log and, when it has a file,
// appends it to the file as one JSON line, synced to disk before Audit
// returns (audit.path; README, "Audit").
type auditFile struct {
	log *slog.Logger
	mu  sync.Mutex
	f   *os.File
}

// openAudit returns an auditFile; path "" keeps records in the log only.
func openAudit(path string, log *slog.Logger) (*auditFile, error) {
	a := &auditFile{log: log}
	if path == "" {
		return a, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit.path: %w", err)
	}
	a.f = f
	return a, nil
}

// Audit implements bot.Auditor.
func (a *auditFile) Audit(ctx context.Context, r bot.AuditRecord) error {
	a.log.InfoContext(ctx, "audit", "operator", r.Operator, "chat_id", r.ChatID, "command", r.Command, "args", r.Args,
		"via", r.Via, "outcome", r.Outcome, "code", r.Code, "period_id", r.PeriodID, "old_status", r.OldStatus,
		"new_status", r.NewStatus, "log_id", r.LogID, "event_id", r.EventID)
	if a.f == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	return nil
}

// Close closes the audit file.
func (a *auditFile) Close() error {
	if a.f == nil {
		return nil
	}
	return a.f.Close()
}
