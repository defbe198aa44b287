package schemas

// rfc3339Millis returns the epoch milliseconds of s when it has the strict
// form time.Parse(time.RFC3339Nano, s) takes its fast path for (Go's
// parseRFC3339): 2006-01-02T15:04:05, an optional fraction of any length
// (truncated to the nanosecond), then Z or ±hh:mm, every field in range.
// On those it gives what time.Parse gives, without allocating; anything
// else it leaves (ok false) to time.Parse.
func rfc3339Millis(s []byte) (ms int64, ok bool) {
	if len(s) < len("2006-01-02T15:04:05") {
		return 0, false
	}
	_ = s[18]
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	// Each digit minus '0' as an unsigned byte: anything else is > 9.
	y0, y1, y2, y3 := s[0]-'0', s[1]-'0', s[2]-'0', s[3]-'0'
	mo0, mo1, d0, d1 := s[5]-'0', s[6]-'0', s[8]-'0', s[9]-'0'
	h0, h1, mi0, mi1, s0, s1 := s[11]-'0', s[12]-'0', s[14]-'0', s[15]-'0', s[17]-'0', s[18]-'0'
	if y0 > 9 || y1 > 9 || y2 > 9 || y3 > 9 || mo0 > 9 || mo1 > 9 || d0 > 9 || d1 > 9 ||
		h0 > 9 || h1 > 9 || mi0 > 9 || mi1 > 9 || s0 > 9 || s1 > 9 {
		return 0, false
	}
	year := int(y0)*1000 + int(y1)*100 + int(y2)*10 + int(y3)
	month, day := int(mo0)*10+int(mo1), int(d0)*10+int(d1)
	hour, minute, sec := int(h0)*10+int(h1), int(mi0)*10+int(mi1), int(s0)*10+int(s1)
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	s = s[19:]

	var nsec int64
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		n := 2
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		// Nine digits at most count, as in time.parseNanoseconds.
		scale := int64(1e9)
		for _, c := range s[1:min(n, 10)] {
			scale /= 10
			nsec += int64(c-'0') * scale
		}
		s = s[n:]
	}

	var offset int // seconds east of UTC
	if len(s) != 1 || s[0] != 'Z' {
		if len(s) != len("-07:00") || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
			return 0, false
		}
		a, b, c, d := s[1]-'0', s[2]-'0', s[4]-'0', s[5]-'0'
		if a > 9 || b > 9 || c > 9 || d > 9 {
			return 0, false
		}
		hh, mm := int(a)*10+int(b), int(c)*10+int(d)
		if hh > 23 || mm > 59 {
			return 0, false
		}
		offset = (hh*60 + mm) * 60
		if s[0] == '-' {
			offset = -offset
		}
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return secs*1000 + nsec/1e6, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// daysIn returns the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to year-month-day in the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil), for
// years 0 to 9999.
func daysFromCivil(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	y += 400 // years -1 to 9999 become positive, 400 years (146097 days) later
	era := y / 400
	yoe := y - era*400 // [0, 399]
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe-719468) - 146097
}
