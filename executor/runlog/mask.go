package runlog

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// MinSecretLen is the shortest secret value pipe masks. Masking a value of one
// to three bytes ("a", "1", "yes") would replace that text everywhere in every
// log and make the logs useless, while hiding almost nothing; such values are
// not masked and Masker.Warnings reports them so the caller can warn.
const MinSecretLen = 4

// secretMask replaces every occurrence of a secret.
const secretMask = "***"

// Masker replaces secret values in text with "***".
//
// For every secret value it masks:
//   - the value itself (also with a trailing newline removed);
//   - each line of a multi-line value (for a value printed line by line);
//   - its base64 forms, standard and URL alphabets, padded or not, also where
//     the value sits inside a longer base64 stream: the value is encoded at
//     each of the three alignments (after 0, 1 and 2 bytes) and only the
//     characters that depend on the value alone are matched (the value
//     encoded alone is masked whole, padding included);
//   - its URL query and path escapes when they differ from the value.
//
// Overlapping or adjacent occurrences of different secrets are masked as one
// "***". A StepLog masks whole lines, after joining what a step wrote in
// several writes and to both stdout and stderr, so a secret split across
// writes or streams within one line is caught.
//
// What masking cannot catch (quoted in the README): a secret the step
// transforms before printing it — hex, reversed, upper-cased, encrypted,
// compressed, split across lines, or otherwise encoded in a way other than
// base64 and URL escaping; a secret printed one character at a time on
// separate lines; a secret leaked through side channels such as timing, exit
// codes, file names or sizes, or network traffic; a secret written into a
// file of the step's output layer (pipe masks logs and reports, not files);
// and values shorter than MinSecretLen. Masking is a last line of defence
// against accidental printing, not a sandbox against a step that wants to
// exfiltrate a secret it has been given.
//
// A Masker is immutable after NewMasker and safe for concurrent use.
type Masker struct {
	patterns []string // longest first, each at least MinSecretLen bytes
	warnings []string
}

// NewMasker returns a Masker for the given secret values. Empty values are
// ignored; values shorter than MinSecretLen are not masked and are reported
// by Warnings.
func NewMasker(secrets []string) *Masker {
	m := &Masker{}
	seen := map[string]bool{}
	for i, s := range secrets {
		if s == "" {
			continue
		}
		if len(strings.TrimSpace(s)) < MinSecretLen {
			m.warnings = append(m.warnings, fmt.Sprintf("secret %d of %d is shorter than %d bytes: it is not masked in logs", i+1, len(secrets), MinSecretLen))
			continue
		}
		for _, p := range secretForms(s) {
			if len(p) >= MinSecretLen && !seen[p] {
				seen[p] = true
				m.patterns = append(m.patterns, p)
			}
		}
	}
	sort.Slice(m.patterns, func(i, j int) bool { return len(m.patterns[i]) > len(m.patterns[j]) })
	return m
}

// Warnings says which secrets are not masked (by position, never by value).
func (m *Masker) Warnings() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.warnings...)
}

// secretForms lists the strings to mask for one secret value.
func secretForms(s string) []string {
	forms := []string{s, strings.TrimRight(s, "\r\n")}
	if strings.ContainsAny(s, "\r\n") {
		for _, line := range strings.Split(s, "\n") {
			forms = append(forms, strings.TrimSpace(line))
		}
	}
	for _, v := range []string{s, strings.TrimRight(s, "\r\n")} {
		forms = append(forms, base64Forms(v)...)
	}
	forms = append(forms, url.QueryEscape(s), url.PathEscape(s))
	return forms
}

// base64Forms returns, for each alphabet and each of the three alignments of
// s inside a longer byte stream, the base64 characters that depend on s alone.
// With k bytes before s, characters [ceil(8k/6), floor(8(k+n)/6)) are fully
// determined by s; the characters at the edges mix in neighbouring bytes.
func base64Forms(s string) []string {
	var out []string
	n := len(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(s))) // the value alone, with its padding
		for k := 0; k < 3; k++ {
			b := make([]byte, k+n)
			copy(b[k:], s)
			e := enc.EncodeToString(b)
			lo, hi := (8*k+5)/6, (8*(k+n))/6
			if hi-lo >= MinSecretLen {
				out = append(out, e[lo:hi])
			}
		}
	}
	return out
}

// Mask returns s with every occurrence of a secret form replaced by "***".
func (m *Masker) Mask(s string) string {
	if m == nil || len(m.patterns) == 0 || len(s) < MinSecretLen {
		return s
	}
	spans := m.find(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(secretMask)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// find returns the merged, sorted byte ranges of s covered by any pattern.
func (m *Masker) find(s string) [][2]int {
	var spans [][2]int
	for _, p := range m.patterns {
		for off := 0; off+len(p) <= len(s); {
			i := strings.Index(s[off:], p)
			if i < 0 {
				break
			}
			spans = append(spans, [2]int{off + i, off + i + len(p)})
			off += i + 1
		}
	}
	return mergeSpans(spans)
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans [][2]int) [][2]int {
	if len(spans) < 2 {
		return spans
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	out := spans[:1]
	for _, sp := range spans[1:] {
		last := &out[len(out)-1]
		if sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// maxPattern is the length of the longest pattern: a StepLog keeps that many
// bytes past its line limit so that a secret straddling the cut is masked.
func (m *Masker) maxPattern() int {
	if m == nil || len(m.patterns) == 0 {
		return 0
	}
	return len(m.patterns[0])
}

// MaskEvent returns e with its free-text fields (Line, Error, Reason)
// masked and stripped of terminal control sequences.
func (m *Masker) MaskEvent(e Event) Event {
	e.Line = SanitizeLine(m.Mask(e.Line))
	e.Error = SanitizeText(m.Mask(e.Error))
	e.Reason = SanitizeText(m.Mask(e.Reason))
	return e
}
