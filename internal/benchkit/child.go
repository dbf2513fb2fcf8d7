package benchkit

import (
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// StartChild starts cmd from a goroutine locked to its own OS thread, which
// lives as long as the child: Pdeathsig is tied to the thread that forked,
// and it stops the child if this program dies without stopping it. SIGTERM,
// not SIGKILL: nginx's master must live long enough to stop its worker,
// which would otherwise keep serving as an orphan. cmd's stderr, when not
// set, is this program's. stop sends sig, waits up to 5 s, then kills the
// child's process group; it may be called more than once.
func StartChild(cmd *exec.Cmd, sig syscall.Signal) (stop func(), err error) {
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	started := make(chan error, 1)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-quit:
		case <-exited:
			return
		}
		cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { close(quit) }); <-done }, nil
}
