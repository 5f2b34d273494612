package runlog

import (
	"strings"
	"unicode/utf8"
)

// SanitizeLine makes one line of a step's output safe to show on a terminal
// and in a CI log, so a step cannot rewrite pipe's display or talk to the CI
// host:
//   - a trailing "\r" (CRLF line ending) is dropped; otherwise only the text
//     after the last "\r" is kept, which is what a terminal would show of a
//     progress bar that redraws itself;
//   - escape sequences are removed whole: CSI ("ESC [" ... final byte), OSC
//     ("ESC ]" ... BEL or "ESC \"), DCS/SOS/PM/APC strings, and two-byte ESC
//     sequences;
//   - every other C0 control except tab (backspace, BEL, NUL, form feed...),
//     DEL and the C1 controls U+0080-U+009F (8-bit CSI and friends) are removed;
//   - Unicode bidirectional overrides and isolates (U+202A-U+202E,
//     U+2066-U+2069), which can make text display in an order other than the
//     one it has, are removed;
//   - invalid UTF-8 is replaced by U+FFFD.
//
// Removing "\r" and ESC also defuses GitLab's section markers, which need
// "\r\x1b[0K". GitHub workflow commands ("::set-output", "::stop-commands")
// only count at the start of a line, and every line of step output pipe
// prints starts with the step's prefix; the terminal sink also wraps step
// output in ::stop-commands:: on GitHub (see NewTerminalSink).
func SanitizeLine(s string) string {
	if isPlain(s) {
		return s
	}
	s = strings.TrimSuffix(s, "\r")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return stripControls(s)
}

// SanitizeText sanitises each line of a multi-line text (an error message).
func SanitizeText(s string) string {
	if isPlain(s) {
		return s
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = SanitizeLine(l)
	}
	return strings.Join(lines, "\n")
}

// isPlain reports whether s is printable ASCII and tabs only: the fast
// path, eight bytes at a time.
func isPlain(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		del := x ^ (0x7f * ones)
		if (x|((x-0x20*ones)&^x)|((del-ones)&^del))&highs != 0 && !isPlainBytes(s[i:i+8]) {
			return false
		}
	}
	return isPlainBytes(s[i:])
}

// isPlainBytes is isPlain one byte at a time.
func isPlainBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// stripControls removes escape sequences and control characters from s,
// which holds no "\r" and is valid UTF-8.
func stripControls(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += escapeLen(s[i:])
			continue
		case r == 0x9b: // 8-bit CSI: skip its parameters too
			i += n + csiLen(s[i+n:])
			continue
		case r == '\t' || (r >= 0x20 && r != 0x7f && !isHiddenRune(r)):
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// isHiddenRune reports C1 controls and bidirectional formatting characters.
func isHiddenRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// escapeLen returns the length of the escape sequence at the start of s
// (s[0] == ESC). An unterminated sequence runs to the end of s.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiLen(s[2:])
	case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC: strings
		return 2 + stringLen(s[2:])
	}
	if s[1] >= 0x20 && s[1] <= 0x2f { // intermediates, e.g. "ESC ( B"
		j := 1
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		return min(j+1, len(s))
	}
	return 2
}

// csiLen returns the length of a CSI sequence's parameters and final byte.
func csiLen(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x40 && c <= 0x7e {
			return i + 1
		} else if c < 0x20 || c > 0x3f {
			return i // malformed: stop before the odd byte
		}
	}
	return len(s)
}

// stringLen returns the length of a control string's body and terminator
// (BEL or "ESC \").
func stringLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x07:
			return i + 1
		case 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i
		}
	}
	return len(s)
}
