package benchkit

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// The cleanups that must also run when a benchmark is interrupted: servers,
// child processes, temporary files.
var cleanups struct {
	sync.Mutex
	fs []func()
}

// AtExit adds f to the cleanups.
func AtExit(f func()) {
	cleanups.Lock()
	cleanups.fs = append(cleanups.fs, f)
	cleanups.Unlock()
}

// RunCleanups runs the cleanups added so far, the last added first, and
// forgets them: each runs once. A second caller (the main goroutine exiting
// while a signal's handler cleans up) waits until they are done, so the
// process does not end halfway through.
func RunCleanups() {
	cleanups.Lock()
	defer cleanups.Unlock()
	fs := cleanups.fs
	cleanups.fs = nil
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// OnSignal calls f, in a goroutine of its own, on the first SIGINT or
// SIGTERM.
func OnSignal(f func(os.Signal)) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { f(<-sigs) }()
}
