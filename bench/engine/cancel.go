package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

// Goal 3: n cycles of Do against a server that reads the request and never
// answers, each canceled once the server has the request. In a child
// process of its own, with its own stalling server (a grandchild), so that
// the fds counted are this test's alone.

type cancelResult struct {
	N                   int
	Seconds             float64
	P50us, P99us, MaxUs float64
	MeanUs              float64
	FDStart, FDEnd      int // with the engine and the handle alive, after a warm-up
	FDInit, FDClosed    int // before anything; after Cleanup and Engine.Close
	RegStart, RegEnd    curl.RegistrationStats
	RegInit, RegClosed  curl.RegistrationStats
	PeakThreads         int
	GOMAXPROCS          int
}

func runCancelChild(n int) (cancelResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return cancelResult{}, err
	}
	cmd := exec.Command(exe, "-internal-role", "cancel", "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return cancelResult{}, fmt.Errorf("cancel child: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r cancelResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("cancel child: %w: %q", err, out)
	}
	return r, nil
}

func cancelChild(n int) error {
	benchkit.RaiseNofile()
	r := cancelResult{N: n, FDInit: openFDs(), RegInit: curl.Registrations()}
	srv, err := startGoServer(1, time.Second, true)
	if err != nil {
		return err
	}
	defer srv.stop()
	r.FDInit = openFDs() // the server's pipes stay: count from here
	eng := curl.NewEngine()
	e := curl.EasyInit()
	counter := newCCounter()
	defer counter.free()
	if err := firstError(setupHandle(e, srv.stallURL, false), counter.set(e.CURL.GetHandle())); err != nil {
		return err
	}
	cycle := func() (time.Duration, error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type ret struct {
			err error
			at  time.Time
		}
		done := make(chan ret, 1)
		go func() {
			err := eng.Do(ctx, e)
			done <- ret{err, time.Now()}
		}()
		select {
		case <-srv.requests:
		case r := <-done:
			return 0, fmt.Errorf("engine.Do returned before the server had the request: %v", r.err)
		case <-time.After(10 * time.Second):
			return 0, errors.New("the server did not get the request in 10 s")
		}
		t0 := time.Now()
		cancel()
		select {
		case r := <-done:
			if !errors.Is(r.err, context.Canceled) {
				return 0, fmt.Errorf("engine.Do returned %v, want context.Canceled", r.err)
			}
			return r.at.Sub(t0), nil
		case <-time.After(10 * time.Second):
			return 0, errors.New("engine.Do did not return 10 s after cancel")
		}
	}
	for range 20 { // warm-up: the shard, libcurl's lazy state
		if _, err := cycle(); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	r.FDStart, r.RegStart = openFDs(), curl.Registrations()
	lats := make([]float64, 0, n)
	s := startSampler(10*time.Millisecond, false)
	t0 := time.Now()
	for i := range n {
		d, err := cycle()
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
		lats = append(lats, float64(d.Nanoseconds())/1e3)
	}
	r.Seconds = time.Since(t0).Seconds()
	r.PeakThreads = s.finish().threads
	r.FDEnd, r.RegEnd = openFDs(), curl.Registrations()
	e.Cleanup()
	eng.Close()
	r.FDClosed, r.RegClosed = openFDs(), curl.Registrations()
	slices.Sort(lats)
	q := func(p float64) float64 { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	sum := 0.0
	for _, l := range lats {
		sum += l
	}
	r.P50us, r.P99us, r.MaxUs, r.MeanUs = q(0.50), q(0.99), lats[len(lats)-1], sum/float64(len(lats))
	r.GOMAXPROCS = gomaxprocs()
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	return nil
}
