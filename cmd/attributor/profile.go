package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
)

// profiles are the --cpuprofile and --memprofile of a run. The heap
// profile is taken when the run is asked to stop, before anything is
// released, so that it shows the state the run held; a run that ends by
// itself (--until-caught-up) takes it at its end.
type profiles struct {
	cpu  *os.File
	mem  *os.File
	once sync.Once
}

// openProfiles creates the profile files named (either may be empty), so
// that a bad path fails the run at its start.
func openProfiles(cpuFile, memFile string) (*profiles, error) {
	p := &profiles{}
	var err error
	if cpuFile != "" {
		if p.cpu, err = os.Create(cpuFile); err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
	}
	if memFile != "" {
		if p.mem, err = os.Create(memFile); err != nil {
			if p.cpu != nil {
				p.cpu.Close()
			}
			return nil, fmt.Errorf("memprofile: %w", err)
		}
	}
	return p, nil
}

// startCPU starts the CPU profile, when one was asked for.
func (p *profiles) startCPU() error {
	if p.cpu == nil {
		return nil
	}
	if err := pprof.StartCPUProfile(p.cpu); err != nil {
		return fmt.Errorf("cpuprofile: %w", err)
	}
	return nil
}

// writeHeap writes the heap profile once, after a GC so that it counts
// what is live now; later calls do nothing.
func (p *profiles) writeHeap() {
	p.once.Do(func() {
		if p.mem == nil {
			return
		}
		runtime.GC()
		pprof.WriteHeapProfile(p.mem)
		p.mem.Close()
	})
}

// stop stops the CPU profile and writes the heap profile if no stop
// request did.
func (p *profiles) stop() {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		p.cpu.Close()
	}
	p.writeHeap()
}
