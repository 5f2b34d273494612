package kube

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Kubernetes names and label values have narrow alphabets. Pipe's step and
// service names are wider (upper case, '_', '.'), so they are mapped, and a
// name that had to change gets a short hash of the original so that two
// names that map alike (Build and build) stay apart.

// dnsLabel maps s onto a DNS-1123 label (lower case letters, digits and '-',
// starting and ending with a letter or digit) of at most max characters.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := collapseDashes(b.String())
	if out == s && out != "" && len(out) <= max {
		return out
	}
	return withHash(out, s, max, "-")
}

// labelValue maps s onto a label value: at most 63 of [A-Za-z0-9._-],
// starting and ending with a letter or digit.
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-._")
	if out == s && out != "" && len(out) <= 63 {
		return out
	}
	return withHash(out, s, 63, "-")
}

// isLabelValue reports whether s is a valid, non-empty label value as is.
func isLabelValue(s string) bool {
	return s != "" && labelValue(s) == s
}

// collapseDashes turns runs of '-' into one and trims them at both ends.
func collapseDashes(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return strings.Trim(s, "-")
}

// withHash cuts mapped to leave room for sep and 8 hex digits of the hash of
// orig, and appends them.
func withHash(mapped, orig string, max int, sep string) string {
	sum := sha256.Sum256([]byte(orig))
	h := hex.EncodeToString(sum[:4])
	room := max - len(h) - len(sep)
	if len(mapped) > room {
		mapped = strings.TrimRight(mapped[:room], "-._")
	}
	if mapped == "" {
		return "x" + sep + h
	}
	return mapped + sep + h
}

// randomSuffix returns n random characters of [a-z0-9], for unique pod names.
func randomSuffix(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+ crashes the program instead)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
