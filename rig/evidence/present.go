package evidence

// present returns which of pats occur in b, in one pass over b: the patterns are indexed by
// their first n bytes (n the shortest pattern's length) and each position of b is looked up
// once. Redact then scans b only for the secrets it holds, instead of once per registered
// secret: a fleet registers 10,000 passwords (and three base64 forms of each), and a trust
// report of 10,000 devices is megabytes.
func present(b []byte, pats [][]byte) []bool {
	found := make([]bool, len(pats))
	if len(pats) == 0 {
		return found
	}
	n := len(pats[0])
	for _, p := range pats {
		n = min(n, len(p))
	}
	if n == 0 {
		for i := range found {
			found[i] = true // an empty pattern: let the caller's scan decide
		}
		return found
	}
	index := make(map[string][]int, len(pats))
	for i, p := range pats {
		index[string(p[:n])] = append(index[string(p[:n])], i)
	}
	left := len(pats)
	for i := 0; i+n <= len(b) && left > 0; i++ {
		cands, ok := index[string(b[i:i+n])]
		if !ok {
			continue
		}
		for _, c := range cands {
			if !found[c] && len(b)-i >= len(pats[c]) && string(b[i:i+len(pats[c])]) == string(pats[c]) {
				found[c] = true
				left--
			}
		}
	}
	return found
}
