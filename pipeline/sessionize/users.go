package sessionize

import (
	"hash/maphash"
	"iter"
)

// userTable holds a shard's users by key in a fraction of the memory of a
// map[string]*user: users live by value in fixed-size chunks that never
// move (a *user stays valid until that user is deleted), and an
// open-addressing index of 8-byte slots finds them (linear probing, at most
// 3/4 full, doubled when full). A slot holds the key's 32-bit hash, which
// also gives its home position, and the user's place in the chunks + 1
// (0: empty). The key is held once, in the user's journey. The hash is
// seeded per table, so that keys chosen by a sender cannot all collide.
// The zero userTable is empty and ready to use.
type userTable struct {
	seed   maphash.Seed
	slots  []uint64
	chunks []*[userChunk]user
	free   []uint32 // places of deleted users, reused first
	places uint32   // places handed out so far
	n      int
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
	} else {
		place = t.places
		if place%userChunk == 0 {
			t.chunks = append(t.chunks, new([userChunk]user))
		}
		t.places++
	}
	t.slots[i] = uint64(h)<<32 | uint64(place+1)
	t.n++
	u := t.at(place)
	u.journey = newJourney(key)
	return u, true
}

func (t *userTable) grow() {
	old := t.slots
	t.slots = make([]uint64, 2*len(old))
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
	t.n--
}

// all yields every user with its place. The loop may delete the user it
// was given.
func (t *userTable) all() iter.Seq2[uint32, *user] {
	return func(yield func(uint32, *user) bool) {
		for place := range t.places {
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
