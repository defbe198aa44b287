package sessionize

import (
	"hash/maphash"
	"iter"
	"slices"
)

// userTable holds a shard's users by key in a fraction of the memory of a
// map[string]*user: users live by value in fixed-size chunks (a *user
// stays valid until that user is deleted or shrink runs), and an
// open-addressing index of 8-byte slots finds them (linear probing, at most
// 3/4 full, doubled when full). A slot holds the key's 32-bit hash, which
// also gives its home position, and the user's place in the chunks + 1
// (0: empty). The key is held once, in the user's journey. The hash is
// seeded per table, so that keys chosen by a sender cannot all collide.
// The zero userTable is empty and ready to use.
//
// After a mass eviction, shrink gives back what the users left: it packs
// the users into the first chunks when the chunks are less than half full,
// releases the chunks that hold no user (their places are handed out again
// only when the chunk is allocated anew) and halves the index while it is
// less than 3/16 full.
type userTable struct {
	seed     maphash.Seed
	slots    []uint64
	chunks   []*[userChunk]user // nil: released by shrink
	live     []uint16           // users held per chunk
	free     []uint32           // places of deleted users in held chunks, reused first
	released []uint32           // indexes of released chunks, reused before new ones
	places   uint32             // places handed out so far
	n        int
}

const userChunk = 1024

func (t *userTable) len() int { return t.n }

func (t *userTable) at(place uint32) *user { return &t.chunks[place/userChunk][place%userChunk] }

func (t *userTable) hash(key string) uint32 { return uint32(maphash.String(t.seed, key)) }

// find returns the slot of key, or the empty slot where it would go.
func (t *userTable) find(key string, h uint32) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if uint32(s>>32) == h && string(t.at(uint32(s)-1).journey.key()) == key {
			return i, true
		}
	}
}

// touch reads what find and the journey's put read next for key: the
// slots from key's home position to the one holding key's hash, the user
// that slot points to and that user's journey (journey.touch), and
// returns a byte of it so that the reads are not optimized away. A slot
// of another key with the same 32-bit hash makes the reads useless, not
// wrong; a key not held costs only its slots.
func (t *userTable) touch(key string) byte {
	if len(t.slots) == 0 {
		return 0
	}
	h := t.hash(key)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0
		}
		if uint32(s>>32) == h {
			return t.at(uint32(s) - 1).journey.touch()
		}
	}
}

// get returns key's user, or nil.
func (t *userTable) get(key string) *user {
	if t.n == 0 {
		return nil
	}
	i, ok := t.find(key, t.hash(key))
	if !ok {
		return nil
	}
	return t.at(uint32(t.slots[i]) - 1)
}

// getOrAdd returns key's user, adding an empty one (holding only its key)
// when there is none, and reports whether it did.
func (t *userTable) getOrAdd(key string) (*user, bool) {
	if len(t.slots) == 0 {
		t.seed = maphash.MakeSeed()
		t.slots = make([]uint64, 64)
	}
	h := t.hash(key)
	i, ok := t.find(key, h)
	if ok {
		return t.at(uint32(t.slots[i]) - 1), false
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
		i, _ = t.find(key, h)
	}
	var place uint32
	if n := len(t.free); n > 0 {
		place = t.free[n-1]
		t.free = t.free[:n-1]
	} else if n := len(t.released); n > 0 {
		c := t.released[n-1]
		t.released = t.released[:n-1]
		t.chunks[c] = new([userChunk]user)
		// The chunk's other places, popped lowest first.
		for p := c*userChunk + userChunk - 1; p > c*userChunk; p-- {
			t.free = append(t.free, p)
		}
		place = c * userChunk
	} else {
		place = t.places
		if place%userChunk == 0 {
			t.chunks = append(t.chunks, new([userChunk]user))
			t.live = append(t.live, 0)
		}
		t.places++
	}
	t.slots[i] = uint64(h)<<32 | uint64(place+1)
	t.live[place/userChunk]++
	t.n++
	u := t.at(place)
	u.journey = newJourney(key)
	return u, true
}

func (t *userTable) grow() { t.resize(2 * len(t.slots)) }

// resize rebuilds the index with size slots (a power of two that holds
// t.n at most 3/4 full).
func (t *userTable) resize(size int) {
	old := t.slots
	t.slots = make([]uint64, size)
	mask := len(t.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(uint32(s>>32)) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// delete removes the user at place (as all yields it).
func (t *userTable) delete(place uint32) {
	u := t.at(place)
	h := uint32(maphash.Bytes(t.seed, u.journey.key()))
	mask := len(t.slots) - 1
	i := int(h) & mask
	for uint32(t.slots[i]) != place+1 {
		i = (i + 1) & mask
	}
	// Shift back the slots after it that may not be past an empty slot.
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(uint32(t.slots[j]>>32)) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	*u = user{}
	t.free = append(t.free, place)
	t.live[place/userChunk]--
	t.n--
}

// shrink gives back memory after evictions: when the held chunks are less
// than half full it moves the users of the last chunks into the free
// places of the first ones (so a *user from before is not valid after: the
// sweep calls it when it holds none, never during all), then releases the
// chunks that hold no user and halves the index while it is less than 3/16
// full (at most 3/8 full after, so a few adds do not grow it straight
// back). It costs a sort of the free places and a walk over the index.
func (t *userTable) shrink() {
	if held := t.chunkCount(); held > 1 && t.n*2 < held*userChunk {
		t.compact()
	}
	t.release()
	size := len(t.slots)
	for size > 64 && t.n*16 < size*3 {
		size /= 2
	}
	if size < len(t.slots) {
		t.resize(size)
	}
}

// compact moves users from the highest places to the lowest free ones.
func (t *userTable) compact() {
	slices.Sort(t.free)
	lo := 0
	var vacated []uint32
	for p := t.places; p > 0; {
		p--
		if t.chunks[p/userChunk] == nil {
			p -= p % userChunk // the loop moves on to the previous chunk
			continue
		}
		u := t.at(p)
		if u.journey.b == nil {
			continue
		}
		if lo == len(t.free) || t.free[lo] >= p {
			break
		}
		f := t.free[lo]
		lo++
		*t.at(f) = *u
		*u = user{}
		t.live[f/userChunk]++
		t.live[p/userChunk]--
		vacated = append(vacated, p)
		// Point the user's slot at its new place.
		h := uint32(maphash.Bytes(t.seed, t.at(f).journey.key()))
		mask := len(t.slots) - 1
		i := int(h) & mask
		for uint32(t.slots[i]) != p+1 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint64(h)<<32 | uint64(f+1)
	}
	t.free = append(t.free[lo:], vacated...)
}

// release drops the chunks that hold no user, and their free places.
func (t *userTable) release() {
	empty := false
	for c, ch := range t.chunks {
		if ch != nil && t.live[c] == 0 {
			t.chunks[c] = nil
			empty = true
		}
	}
	if !empty {
		return
	}
	// Drop the trailing released chunks altogether.
	for n := len(t.chunks); n > 0 && t.chunks[n-1] == nil; n-- {
		t.chunks = t.chunks[:n-1]
		t.live = t.live[:n-1]
	}
	t.places = min(t.places, uint32(len(t.chunks))*userChunk)
	keep := t.free[:0]
	for _, p := range t.free {
		if p < t.places && t.chunks[p/userChunk] != nil {
			keep = append(keep, p)
		}
	}
	t.free = shrunk(keep)
	t.released = t.released[:0]
	for c, ch := range t.chunks {
		if ch == nil {
			t.released = append(t.released, uint32(c))
		}
	}
	t.released = shrunk(t.released)
}

// shrunk returns s, copied into a smaller array when it uses less than a
// quarter of its capacity.
func shrunk(s []uint32) []uint32 {
	if cap(s) > 64 && len(s) < cap(s)/4 {
		return append([]uint32(nil), s...)
	}
	return s
}

// chunkCount is the number of chunks held (not released).
func (t *userTable) chunkCount() int {
	n := 0
	for _, ch := range t.chunks {
		if ch != nil {
			n++
		}
	}
	return n
}

// all yields every user with its place. The loop may delete the user it
// was given.
func (t *userTable) all() iter.Seq2[uint32, *user] {
	return func(yield func(uint32, *user) bool) {
		for place := uint32(0); place < t.places; place++ {
			if t.chunks[place/userChunk] == nil {
				place |= userChunk - 1 // the loop moves on to the next chunk
				continue
			}
			u := t.at(place)
			if u.journey.b == nil { // deleted: a user always holds its key
				continue
			}
			if !yield(place, u) {
				return
			}
		}
	}
}
