//go:build linux

package curl

import (
	"sync"
	"testing"
)

type testReg struct{ id uintptr }

func (r *testReg) regID() uintptr { return r.id }

func TestIDTable(t *testing.T) {
	var tbl idTable[testReg, *testReg]
	if tbl.lookup(0) != nil || tbl.lookup(1) != nil || tbl.release(1) {
		t.Fatal("an empty table finds something")
	}
	// Enough registrations to need several pages.
	regs := make([]*testReg, 3*idPageSize+5)
	seen := map[uintptr]bool{}
	for i := range regs {
		r := &testReg{id: tbl.alloc()}
		if r.id == 0 || seen[r.id] {
			t.Fatalf("alloc %d gave id %#x (0 or a duplicate)", i, r.id)
		}
		seen[r.id] = true
		tbl.set(r.id, r)
		regs[i] = r
	}
	for _, r := range regs {
		if got := tbl.lookup(r.id); got != r {
			t.Fatalf("lookup(%#x) = %v, want %v", r.id, got, r)
		}
	}
	if tbl.lookup(0) != nil {
		t.Fatal("id 0 found a registration")
	}
	if tbl.live != len(regs) {
		t.Fatalf("live = %d, want %d", tbl.live, len(regs))
	}

	// A released id misses, also once its slot is reused: the new id differs.
	old := regs[7]
	if !tbl.release(old.id) || tbl.release(old.id) {
		t.Fatal("release: want true once, then false")
	}
	if tbl.lookup(old.id) != nil {
		t.Fatal("a released id still finds its registration")
	}
	r := &testReg{id: tbl.alloc()}
	tbl.set(r.id, r)
	if r.id == old.id || r.id&idSlotMask != old.id&idSlotMask {
		t.Fatalf("reused id %#x for released %#x: want the same slot, another generation", r.id, old.id)
	}
	if tbl.lookup(old.id) != nil || tbl.lookup(r.id) != r {
		t.Fatal("the stale id reached the slot's new registration")
	}
	if tbl.release(old.id) {
		t.Fatal("releasing a stale id freed the slot's new registration")
	}

	n := 0
	tbl.each(func(*testReg) { n++ })
	if n != len(regs) || tbl.live != n {
		t.Fatalf("each saw %d, live %d, want %d", n, tbl.live, len(regs))
	}
}

// Lookups take no lock while registrations come and go (run with -race).
func TestIDTableConcurrentLookup(t *testing.T) {
	var tbl idTable[testReg, *testReg]
	var mu sync.Mutex // what registry's mutex is to the real tables
	mu.Lock()
	stable := &testReg{id: tbl.alloc()}
	tbl.set(stable.id, stable)
	mu.Unlock()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tbl.lookup(stable.id) != stable {
					t.Error("lost a live registration")
					return
				}
			}
		}()
	}
	for range 5000 {
		mu.Lock()
		r := &testReg{id: tbl.alloc()}
		tbl.set(r.id, r)
		mu.Unlock()
		mu.Lock()
		tbl.release(r.id)
		mu.Unlock()
	}
	// Growth while readers run.
	mu.Lock()
	for range 2 * idPageSize {
		r := &testReg{id: tbl.alloc()}
		tbl.set(r.id, r)
	}
	mu.Unlock()
	close(stop)
	wg.Wait()
}
