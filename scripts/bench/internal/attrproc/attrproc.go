// Package attrproc runs `attributor run` as a child process for the
// benchmark programs: it copies the process's stderr to a log, says when the
// first consumer-group generation started, and stops it gracefully.
package attrproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a running attributor.
type Proc struct {
	Cmd   *exec.Cmd
	Ready chan struct{} // closed when its group generation started
	Done  chan struct{} // closed when it exited; Err and the exit code are set
	Err   error

	once sync.Once
	code int
}

// Start runs args, copying stdout and stderr to logPath (discarded when
// empty) and calling onLine, when not nil, with every stderr line.
func Start(args []string, logPath string, onLine func(string)) (*Proc, error) {
	out := io.Discard
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		out = f
	}
	p := &Proc{Cmd: exec.Command(args[0], args[1:]...), Ready: make(chan struct{}), Done: make(chan struct{})}
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.Cmd.Stdout = out
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start attributor: %w", err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if onLine != nil {
				onLine(line)
			}
			if !signalled && strings.Contains(line, "generation started") {
				close(p.Ready)
				signalled = true
			}
		}
		io.Copy(out, stderr)
	}()
	go func() {
		<-scanned
		p.Err = p.Cmd.Wait()
		p.code = p.Cmd.ProcessState.ExitCode()
		close(p.Done)
	}()
	return p, nil
}

// Stop ends the attributor gracefully (SIGTERM, which also makes it write
// its profiles), then by force after a minute, and returns its exit code.
func (p *Proc) Stop() int {
	p.once.Do(func() {
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Done:
		case <-time.After(time.Minute):
			p.Cmd.Process.Kill()
			<-p.Done
		}
	})
	<-p.Done
	return p.code
}
