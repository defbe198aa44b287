package pipelinetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Binary returns the path of the attributor command, built once per test
// process into a temporary directory that RemoveBinary deletes (call it
// from TestMain after m.Run).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "attributor-test-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "attributor")
		out, err := exec.Command("go", "build", "-o", buildPath, "github.com/attributor/attributor/cmd/attributor").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build attributor: %v", buildErr)
	}
	return buildPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// RemoveBinary deletes what Binary built.
func RemoveBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Proc is a running attributor command.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  lockedBuffer // stdout and stderr
	done chan struct{}
	code int
}

// Start runs the attributor command with args; a process still running at
// the end of the test is killed.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: exec.Command(Binary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start attributor: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal attributor: %v", err)
	}
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to exit (failing the test and
// killing it otherwise), and returns its exit code and output.
func (p *Proc) Wait(timeout time.Duration) (int, string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("attributor %v did not exit within %s; output:\n%s", p.cmd.Args[1:], timeout, p.out.String())
	}
	return p.code, p.out.String()
}

// Output returns the output so far.
func (p *Proc) Output() string { return p.out.String() }

// RunBinary runs the attributor command with args to completion (at most
// timeout) and returns its exit code and output.
func RunBinary(t testing.TB, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	return Start(t, args...).Wait(timeout)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
