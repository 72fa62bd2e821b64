// Package roots follows the mesh root file: the pod mounts the ConfigMap istio-ca-root-cert,
// and the kubelet updates such a volume in place (a new ..data directory swapped in by a
// symlink rename, within about a minute of the ConfigMap's change). When the control plane's
// root changes, the new bundle (old and new roots during the transition) must reach Envoy as the
// ROOTCA secret without a restart, so that peers with certificates of the new root are trusted
// before they appear. A directory watch notices the swap at once; a poll covers file systems
// where inotify says nothing. Fail-closed: a file that is empty, unreadable or holds anything
// but CA certificates is refused with a log line, and Envoy keeps what it had.
package roots

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Check returns the bundle's certificates if it is a usable trust bundle, else says why not.
func Check(text []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := text
	for i := 1; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is a %s, not a certificate", i, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %w", i, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %d (serial %X) is not a CA certificate", i, c.SerialNumber)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("holds no PEM certificate")
	}
	return certs, nil
}

// Watcher hands each new, valid bundle of File to OnChange.
type Watcher struct {
	File     string
	Log      *slog.Logger
	OnChange func(rootPEM []byte)
	// Poll is the fallback period (default 10 s).
	Poll time.Duration

	mu       sync.Mutex
	current  []byte
	rejected []byte
}

// NewWatcher starts from initial, the bundle Envoy has now.
func NewWatcher(file string, initial []byte, log *slog.Logger, onChange func([]byte)) *Watcher {
	return &Watcher{File: file, Log: log, OnChange: onChange, current: initial}
}

// Accepted is the bundle last accepted (or the initial one).
func (w *Watcher) Accepted() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	var events chan fsnotify.Event
	var errs chan error
	if fw, err := fsnotify.NewWatcher(); err != nil {
		w.Log.Warn("cannot watch the root certificate directory; polling only", "file", w.File, "error", err.Error())
	} else {
		defer fw.Close()
		// The kubelet's swap renames entries in the volume's directory: watch that, not the file.
		if err := fw.Add(filepath.Dir(w.File)); err != nil {
			w.Log.Warn("cannot watch the root certificate directory; polling only", "file", w.File, "error", err.Error())
		} else {
			events, errs = fw.Events, fw.Errors
		}
	}
	poll := w.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case err := <-errs:
			// Read, or fsnotify stops delivering events (e.g. after an inotify queue overflow);
			// a change may have been lost, so the file is read now.
			w.Log.Warn("watching the root certificate directory", "file", w.File, "error", err.Error())
		case <-ticker.C:
		}
		w.Check()
	}
}

// Check reads the file once and hands a change, if any, to OnChange.
func (w *Watcher) Check() {
	text, err := os.ReadFile(w.File)
	if err != nil {
		return // mid-swap, or gone for a moment: the next event or poll reads it again
	}
	w.mu.Lock()
	if bytes.Equal(text, w.current) || bytes.Equal(text, w.rejected) {
		w.mu.Unlock()
		return
	}
	certs, err := Check(text)
	if err != nil {
		w.rejected = text
		w.mu.Unlock()
		w.Log.Error("refusing the changed root certificate file; keeping the current roots", "file", w.File, "error", err.Error())
		return
	}
	w.current, w.rejected = text, nil
	w.mu.Unlock()
	w.OnChange(text)
	w.Log.Info("mesh root certificates changed; pushed to Envoy", "file", w.File, "roots", len(certs))
}
