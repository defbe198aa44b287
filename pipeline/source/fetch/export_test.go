package fetch

// Dials is how many connections the loop opened.
func (l *Loop) Dials() int64 { return l.p.dials.Load() }
