//go:build linux

package curl

import (
	"sync/atomic"
	"unsafe"
)

// idTable numbers registrations for libcurl: it hands out the ids libcurl
// passes back as clientp, and finds a registration from its id with two
// atomic loads and no hashing, on the path of every callback.
//
// An id is a slot number and that slot's generation. Slots are reused, and
// the generation changes with every reuse, so an id that outlived its
// registration (libcurl may still hold one: see the note on the registry)
// misses instead of reaching the slot's next registration. Generations have
// half the bits of a uintptr: on 64-bit platforms a slot would have to be
// reused 2³² times before an old id could match again.
//
// Changes (alloc, set, release) are made under registry's mutex; lookups
// take no lock.
type idTable[E any, P interface {
	*E
	regID() uintptr
}] struct {
	pages atomic.Pointer[[]*idPage[E]] // replaced, never changed, when it grows
	slots int                          // slots ever used
	free  []uintptr                    // released ids, whose slots are reused
	live  int
}

const (
	idPageBits = 8
	idPageSize = 1 << idPageBits
	idGenShift = unsafe.Sizeof(uintptr(0)) * 4
	idSlotMask = (1 << idGenShift) - 1
)

type idPage[E any] [idPageSize]atomic.Pointer[E]

// alloc returns an unused id. Slot numbers start at 1: id 0 means none.
func (t *idTable[E, P]) alloc() uintptr {
	t.live++
	if n := len(t.free); n > 0 {
		old := t.free[n-1]
		t.free = t.free[:n-1]
		// The next generation of the same slot.
		return ((old>>idGenShift)+1)<<idGenShift | (old & idSlotMask)
	}
	t.slots++
	var pages []*idPage[E]
	if p := t.pages.Load(); p != nil {
		pages = *p
	}
	if (t.slots-1)>>idPageBits >= len(pages) {
		grown := append(pages[:len(pages):len(pages)], new(idPage[E]))
		t.pages.Store(&grown)
	}
	return uintptr(t.slots)
}

func (t *idTable[E, P]) slot(id uintptr) *atomic.Pointer[E] {
	s := id&idSlotMask - 1 // wraps for id 0, and misses below
	p := t.pages.Load()
	if p == nil || s>>idPageBits >= uintptr(len(*p)) {
		return nil
	}
	return &(*p)[s>>idPageBits][s&(idPageSize-1)]
}

// set makes id, from alloc, find e.
func (t *idTable[E, P]) set(id uintptr, e *E) {
	t.slot(id).Store(e)
}

// release forgets id; it reports whether id was live.
func (t *idTable[E, P]) release(id uintptr) bool {
	s := t.slot(id)
	if s == nil {
		return false
	}
	e := s.Load()
	if e == nil || P(e).regID() != id {
		return false
	}
	s.Store(nil)
	t.free = append(t.free, id)
	t.live--
	return true
}

// lookup returns the registration of id, or nil if there is none (any more).
func (t *idTable[E, P]) lookup(id uintptr) *E {
	if s := t.slot(id); s != nil {
		if e := s.Load(); e != nil && P(e).regID() == id {
			return e
		}
	}
	return nil
}

// each calls f for every live registration.
func (t *idTable[E, P]) each(f func(*E)) {
	p := t.pages.Load()
	if p == nil {
		return
	}
	for _, page := range *p {
		for i := range page {
			if e := page[i].Load(); e != nil {
				f(e)
			}
		}
	}
}
